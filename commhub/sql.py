"""Helpers for the few hand-written statements (the claim, the batched outcome write, the policy check)."""

from __future__ import annotations

from django.db import models


def column(model: type[models.Model], name: str) -> str:
    """The quoted column of `model.name`, from model metadata (never from input)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a relation without a column")
    return f'"{field.column}"'
