"""Reads for notification types and notifications."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from commhub.snapshot import Snapshot

from .constants import Status
from .models import Notification, NotificationType, TypeOverride


def _load_types() -> dict[Any, NotificationType]:
    """The shared types by key and by id, and each organisation's overridden ones by (organisation id, key)."""
    types = list(NotificationType.objects.prefetch_related("type_channels"))
    by_id = {t.pk: t for t in types}
    overridden = {
        (o.organisation_id, by_id[o.notification_type_id].key): o.applied_to(by_id[o.notification_type_id])
        for o in TypeOverride.objects.all()
        if o.notification_type_id in by_id
    }
    return {**{t.key: t for t in types}, **by_id, **overridden}


notification_types = Snapshot(_load_types)


def notification_type_by_key(key: str, *, organisation_id: int | None = None) -> NotificationType | None:
    """From the in-process snapshot: submit reads it for every message. With `organisation_id`, as that
    organisation has it (its TypeOverride applied)."""
    snapshot = notification_types.get()
    if organisation_id is not None:
        found = snapshot.get((organisation_id, str(key)))
        if found is not None:
            return found
    return snapshot.get(str(key))


def notification_type_by_id(type_id: int) -> NotificationType | None:
    return notification_types.get().get(int(type_id))


def notification_types_capped() -> list[NotificationType]:
    """Types with a frequency cap (from the snapshot)."""
    return [t for key, t in notification_types.get().items() if isinstance(key, str) and t.has_frequency_cap]


def notification_types_digesting() -> list[NotificationType]:
    """Types that gather their messages into digests (from the snapshot)."""
    return [t for key, t in notification_types.get().items() if isinstance(key, str) and t.digest]


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


def queues_with_ready_rows(queues: Iterable[str], *, now: datetime) -> list[str]:
    """Of `queues`, those holding rows ready to send now."""
    return list(
        Notification.objects.filter(status=Status.QUEUED, queue__in=list(queues), send_at__lte=now)
        .values_list("queue", flat=True)
        .distinct()
    )


def cap_counted_send_times(*, recipient, notification_type, since: datetime, statuses) -> list[datetime]:
    """Send moments of the recipient's notifications of this type from `since` on (future ones included)."""
    return list(
        Notification.objects.filter(
            recipient=recipient, notification_type=notification_type, status__in=statuses, send_at__gt=since
        ).values_list("send_at", flat=True)
    )


def notifications_of_recipient(external_id: str) -> QuerySet[Notification]:
    """One person's notifications, newest first (the end-user API's only way in)."""
    return (
        Notification.objects.filter(recipient__external_id=external_id)
        .select_related("notification_type")
        .order_by("-created_at")
    )


def dead_letters(
    *,
    types: list[str] | None = None,
    channel: str | None = None,
    error_code: str | None = None,
    error_contains: str | None = None,
    failed_before: datetime | None = None,
    failed_after: datetime | None = None,
) -> QuerySet[Notification]:
    """Failed notifications (the dead letters), oldest failure first, filtered as operators ask."""
    rows = Notification.objects.filter(status=Status.FAILED)
    if types:
        rows = rows.filter(notification_type__key__in=types)
    if channel:
        rows = rows.filter(channel=channel)
    if error_code:
        rows = rows.filter(error_code=error_code)
    if error_contains:
        rows = rows.filter(last_error__icontains=error_contains)
    if failed_before:
        rows = rows.filter(failed_at__lt=failed_before)
    if failed_after:
        rows = rows.filter(failed_at__gte=failed_after)
    return rows.order_by("failed_at", "pk")
