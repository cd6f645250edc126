"""Reading webhook endpoints."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import WebhookEndpoint


def endpoints_all() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.select_related("recipient")


def recipients_with_endpoints(recipient_ids: Iterable[int]) -> set[int]:
    """Which of these people have an enabled endpoint (one query however many)."""
    ids = [i for i in set(recipient_ids) if i is not None]
    if not ids:
        return set()
    return set(
        WebhookEndpoint.objects.filter(recipient_id__in=ids, enabled=True).values_list("recipient_id", flat=True)
    )
