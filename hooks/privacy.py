"""What the hooks app adds to erasure and retention, and how long it keeps delivered events.

Lifecycle events copy a little of a notification (the person's id in the product, a failure's reason, which may
name the address). When a person is erased or a notification purged, its events already delivered or failed are
deleted; one still waiting goes with those fields blanked (the product backend still hears that it happened).
Delivered and failed events are otherwise kept for WEBHOOK_EVENT_RETENTION_DAYS (replays reach that far back).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef

from notifications.retention import purge_step
from preferences.models import Recipient
from preferences.privacy import erasure_step

from .models import EventDelivery, LifecycleEvent

BLANKED = "(erased)"
_PERSONAL = ("recipient", "reason", "url")


def _forget(events) -> dict[str, int]:
    waiting = EventDelivery.objects.filter(event=OuterRef("pk"), state=EventDelivery.State.PENDING)
    deleted = events.exclude(Exists(waiting)).delete()[1].get("hooks.LifecycleEvent", 0)
    kept = list(events.filter(Exists(waiting)))
    for event in kept:
        data = event.payload.get("data", {})
        data.update({key: BLANKED for key in _PERSONAL if data.get(key)})
    LifecycleEvent.objects.bulk_update(kept, ["payload"])
    return {"lifecycle_events_deleted": deleted, "lifecycle_events_blanked": len(kept)}


@erasure_step
def events_erase(recipient: Recipient, now: datetime) -> dict[str, int]:
    return _forget(LifecycleEvent.objects.filter(notification__recipient=recipient))


@purge_step
def events_of_purged(notification_ids: list) -> dict[str, int]:
    return _forget(LifecycleEvent.objects.filter(notification_id__in=notification_ids))


def events_expire(*, now: datetime) -> int:
    """Delete events whose every delivery ended (delivered or failed) before WEBHOOK_EVENT_RETENTION_DAYS."""
    waiting = EventDelivery.objects.filter(event=OuterRef("pk"), state=EventDelivery.State.PENDING)
    old = LifecycleEvent.objects.filter(occurred_at__lt=now - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS))
    return old.exclude(Exists(waiting)).exclude(kafka_pending=True).delete()[1].get("hooks.LifecycleEvent", 0)
