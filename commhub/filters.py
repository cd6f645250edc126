"""Query-string filters as documented: a filter given a value it cannot use is a 400 naming it, never silently
ignored (django-filter's default: ?active=maybe or ?created_after= would list everything)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from commhub import channels

MAX_ID = 2**63 - 1  # the largest primary key a bigint column holds


class _LiveChannelChoices:
    """The channels registered now, each time they are read (a form field's choices, the API schema's enum)."""

    def __iter__(self) -> Any:
        return iter(channels.choices())


class ChannelFilter(filters.ChoiceFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", _LiveChannelChoices())
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """An integer id (not 1.5, not 1e300: a number no column holds would be a database error)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            # PostgreSQL takes offsets up to 15:59; Python's go to 23:59 (e.g. -19:45): compare in UTC
            return result.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError("Out of the range of dates commhub stores.", code="invalid") from exc


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter whose value is compared in UTC (any offset Python reads is accepted)."""

    field_class = _UtcIsoDateTimeField


class StrictFilterSet(filters.FilterSet):
    """A FilterSet that refuses an empty value where no empty value exists (?status=, ?created_after=) and a
    boolean other than true or false."""

    def _problems(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        for name, declared in self.filters.items():
            if self.data is None or name not in self.data:
                continue
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data[name]]
            # an empty text filter is django-filter's "no filter" (and a valid string); other types have no
            # empty value
            if any(value == "" for value in values) and type(declared) is not filters.CharFilter:
                problems[name] = "Must not be empty: leave the parameter out to list everything."
            elif isinstance(declared, filters.BooleanFilter) and any(
                str(value).lower() not in ("true", "false") for value in values
            ):
                problems[name] = "Must be true or false."
        return problems

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, message in self._problems().items():
            if name in self.form.fields:
                self.form.add_error(name, message)
        return valid and not self.form.errors


class StrictFilterBackend(filters.DjangoFilterBackend):
    """DRF's filter backend, building StrictFilterSets for views that list only `filterset_fields`."""

    filterset_base = StrictFilterSet
