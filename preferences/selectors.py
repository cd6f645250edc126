"""Reads for recipients."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import Recipient


def recipients_all() -> QuerySet[Recipient]:
    return Recipient.objects.all()


def recipients_by_external_id(external_ids: Iterable[str]) -> dict[str, Recipient]:
    ids = {str(e) for e in external_ids}
    return {r.external_id: r for r in Recipient.objects.filter(external_id__in=ids)}
