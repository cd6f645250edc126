"""Reading webhook endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import QuerySet

from commhub.sql import any_of

from .models import EventDelivery, EventSubscription, WebhookEndpoint


def endpoints_all() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.select_related("recipient")


def recipients_with_endpoints(recipient_ids: Iterable[int]) -> set[int]:
    """Which of these people have an enabled endpoint (one query however many)."""
    ids = [i for i in set(recipient_ids) if i is not None]
    if not ids:
        return set()
    return set(
        WebhookEndpoint.objects.filter(any_of("recipient_id", ids), enabled=True).values_list("recipient_id", flat=True)
    )


def subscriptions_all() -> QuerySet[EventSubscription]:
    return EventSubscription.objects.all()


def deliveries_of(subscription: EventSubscription, *, state: str | None = None) -> QuerySet[EventDelivery]:
    deliveries = EventDelivery.objects.filter(subscription=subscription).select_related("event").order_by("-id")
    return deliveries.filter(state=state) if state in EventDelivery.State.values else deliveries


def deliveries_to_replay(
    subscription: EventSubscription, *, states, events=None, since=None, until=None
) -> QuerySet[EventDelivery]:
    """The subscription's deliveries in `states` of the named events (evt_<hex>; others match nothing), or of those
    that happened in [since, until)."""
    deliveries = EventDelivery.objects.filter(subscription=subscription, state__in=states)
    if events:
        uids = [e.removeprefix("evt_") for e in events]
        deliveries = deliveries.filter(event__uid__in=[u for u in uids if _is_hex_uuid(u)])
    if since:
        deliveries = deliveries.filter(event__occurred_at__gte=since)
    if until:
        deliveries = deliveries.filter(event__occurred_at__lt=until)
    return deliveries


def _is_hex_uuid(text: str) -> bool:
    try:
        uuid.UUID(hex=text)
    except ValueError:
        return False
    return True
