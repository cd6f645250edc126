"""API plumbing shared by every app: pagination and the one exception handler (permissions live in
commhub.permissions, which DRF imports while it is itself still loading)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from commhub import channels
from commhub.errors import DomainError, InvalidInput


class ChannelField(serializers.ChoiceField):
    """A channel name. The choices are the channel registry's, read when the field is used (a channel
    registered after the serializer class was defined is accepted too). `any_label` adds "" for "every
    channel"."""

    def __init__(self, *, any_label: str | None = None, **kwargs: Any) -> None:
        self._any = [("", any_label)] if any_label else []
        super().__init__(choices=[], **kwargs)

    def _live(self) -> dict[Any, str]:
        return dict([*self._any, *channels.choices()])

    @property
    def choices(self) -> dict[Any, str]:
        return self._live()

    @choices.setter
    def choices(self, value: Any) -> None:  # DRF's __init__ assigns the (empty) static choices
        pass

    @property
    def grouped_choices(self) -> dict[Any, str]:
        return self._live()

    @grouped_choices.setter
    def grouped_choices(self, value: Any) -> None:
        pass

    @property
    def choice_strings_to_values(self) -> dict[str, Any]:
        return {str(key): key for key in self._live()}

    @choice_strings_to_values.setter
    def choice_strings_to_values(self, value: Any) -> None:
        pass


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _messages(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return {field: _flatten(errors) for field, errors in error.error_dict.items()}
    return {"non_field_errors": [m for m in error.messages]}


def _flatten(errors: list) -> Any:
    """Keep nested dicts (e.g. data.amount) as dicts, turn ValidationError lists into strings."""
    out: list = []
    for err in errors:
        if isinstance(err, DjangoValidationError):
            if hasattr(err, "error_dict"):
                return _messages(err)
            out.extend(err.messages)
        else:
            out.append(str(err))
    return out


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return Response(_messages(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidInput):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return drf_exception_handler(exc, context)


def contract_paths_as_documented(result: dict, generator, request, public) -> dict:
    """drf-spectacular hook: list the seed contract's paths as the contract documents them (no trailing
    slash); both forms are served."""
    prefix = "/api/communication/"
    result["paths"] = {
        (path[:-1] if path.startswith(prefix) and path.endswith("/") else path): item
        for path, item in result["paths"].items()
    }
    return result


class CSVRenderer(BaseRenderer):
    """Lists of flat objects as CSV (audit exports). `?format=csv` selects it where a view offers it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = data if isinstance(data, list) else [data]
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0].keys()), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue().encode(self.charset)
