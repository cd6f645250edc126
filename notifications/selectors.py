"""Reads for notification types and notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from commhub.snapshot import Snapshot

from .constants import Status
from .models import Notification, NotificationType


def _load_types() -> dict[str | int, NotificationType]:
    types = list(NotificationType.objects.all())
    return {**{t.key: t for t in types}, **{t.pk: t for t in types}}


notification_types = Snapshot(_load_types)


def notification_type_by_key(key: str) -> NotificationType | None:
    """From the in-process snapshot: submit reads it for every message."""
    return notification_types.get().get(str(key))


def notification_type_by_id(type_id: int) -> NotificationType | None:
    return notification_types.get().get(int(type_id))


def notification_types_all() -> QuerySet[NotificationType]:
    return NotificationType.objects.all()


def notifications_for_api() -> QuerySet[Notification]:
    """Notifications with what list and detail views show, one query for the page."""
    return Notification.objects.select_related("recipient", "notification_type").annotate(
        has_fallback=Exists(Notification.objects.filter(fallback_of=OuterRef("pk")))
    )


def notification_detail(notification_id) -> Notification | None:
    """The notification with its attempts and fallbacks; None for an unknown or malformed id."""
    try:
        notification_id = uuid.UUID(str(notification_id))
    except ValueError:
        return None
    return notifications_for_api().prefetch_related("fallbacks", "attempts_log").filter(pk=notification_id).first()


def notifications_due(*, now: datetime) -> QuerySet[Notification]:
    """Scheduled or retry-waiting rows whose moment has come."""
    return Notification.objects.filter(status__in=[Status.SCHEDULED, Status.PENDING], send_at__lte=now)


def notifications_with_expired_lease(*, now: datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)


def queues_with_stale_rows(*, older_than: datetime) -> list[str]:
    """Queues holding ready rows nobody has touched for a while: their wake-up may have been lost."""
    return list(
        Notification.objects.filter(status=Status.QUEUED, updated_at__lt=older_than)
        .values_list("queue", flat=True)
        .distinct()
    )
