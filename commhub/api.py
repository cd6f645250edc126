"""API plumbing shared by every app: pagination and the one exception handler (permissions live in
commhub.permissions, which DRF imports while it is itself still loading)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from commhub import channels
from commhub.errors import DomainError, InvalidInput
from commhub.locales import LOCALE_PATTERN


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


def _json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """Whether a JSON value has the type its field documents (null is the field's own business)."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
    text_fields = (
        serializers.CharField,
        serializers.ChoiceField,
        serializers.DateTimeField,
        serializers.DateField,
        serializers.TimeField,
        serializers.UUIDField,
    )
    if isinstance(field, text_fields):
        return None if isinstance(value, str) else "Must be a string."
    if isinstance(field, serializers.DictField):
        return None if isinstance(value, dict) else "Must be an object."
    if isinstance(field, serializers.ListField):
        return None if isinstance(value, list) else "Must be a list."
    return None


def holds_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (keys included). Flat objects, the common case, are
    walked without a call per value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return True
            if isinstance(item, str):
                if "\x00" in item:
                    return True
            elif isinstance(item, dict | list) and holds_nul(item):
                return True
        return False
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


class StrictInput(serializers.Serializer):
    """A JSON request body taken as documented: a string field takes a string (not 0), a boolean true or false
    (not 0 or "yes"), an integer a whole number (not true), an object an object. DRF would coerce these. And no
    NUL character anywhere in what is read (PostgreSQL cannot store one, in text or in JSON)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                if not field.read_only and name in data:
                    # a form post's values are all text: DRF's own parsing of them stands
                    problem = None if isinstance(data, QueryDict) else _json_type_problem(field, data[name])
                    if not problem and holds_nul(data[name]):
                        problem = "Contains a NUL character (\\u0000), which cannot be stored."
                    if problem:
                        errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class LocaleField(serializers.RegexField):
    """A BCP 47-style locale tag (en, pt-BR, zh-Hant-TW); the schema documents the pattern."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault("error_messages", {"invalid": "A locale tag such as en or pt-BR."})
        super().__init__(LOCALE_PATTERN, **kwargs)


class ErrorsAsJson:
    """For a view that can also answer CSV: an error is JSON whatever format was asked for."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        renderer = getattr(request, "accepted_renderer", None)
        if response.status_code >= 400 and renderer is not None and renderer.format != "json":
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class Pagination(PageNumberPagination):
    """Pages as documented: page_size a whole number from 1 to 500 (anything else is a 400, not silently the
    default), page a whole number from 1 (a page past the last is a 404)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Any) -> int | None:
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) > 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= self.max_page_size:
            raise serializers.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw[0])

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


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
        # the template preview is documented without its trailing slash (both are served)
        if not (path.startswith("/api/v1/templates/") and path.endswith("/preview/"))
    }
    return result


_ERRORS = {
    "400": 'Invalid input: an object naming each bad field ({"field": ["what is wrong"]}, nested for nested '
    'fields), or {"detail", "code"}. Nothing was stored.',
    "401": "No token, or one that is invalid or expired.",
    "403": "The token lacks this endpoint's permission.",
    "404": "Nothing with that id that this token may see (or a page past the last).",
    "409": "The object's state does not allow it (e.g. cancelling a notification already sent), or a request "
    "with the same Idempotency-Key is still running.",
    "429": "Over this client's, end user's or address's rate (COMMHUB_THROTTLE_*): try again after the "
    "Retry-After header's seconds. Nothing was stored.",
}


def document_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: every operation documents the errors it can answer with, in one shape."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "additionalProperties": True,
        "description": "Field errors ({field: [messages]}) or {detail, code}.",
    }
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            wanted = ["400", "404", "429"]
            if operation.get("security") and operation["security"] != [{}]:
                wanted += ["401", "403"]
            if method != "get":
                wanted.append("409")
            responses = operation.setdefault("responses", {})
            for code in wanted:
                responses.setdefault(
                    code,
                    {
                        "description": _ERRORS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result


class CSVRenderer(BaseRenderer):
    """Lists of flat objects as CSV (audit exports). `?format=csv` selects it where a view offers it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        """The header row always (from the view's `csv_header` when there are no rows), then the rows."""
        rows = data if isinstance(data, list) else [data]
        view = (renderer_context or {}).get("view")
        header = list(rows[0].keys()) if rows else list(getattr(view, "csv_header", ()))
        out = io.StringIO()
        if header:
            writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        return out.getvalue().encode(self.charset)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)` typed by an end user into a consent
    text or an attribute) gets a leading apostrophe, as OWASP advises: shown as text, never evaluated."""
    if isinstance(value, dict | list):  # nested data (an audit entry's before/after) as JSON text
        value = json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
