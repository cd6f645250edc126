"""What a person does with their inbox: see, read, unread, archive. Reads and first sightings are provider
feedback like any other (notifications.feedback): a first sighting reports the item delivered, a first read
reports it opened, so the notification's status, the rollups and the metrics count them as they count an
email's. Each is reported once per item (the event id is the item's), however often it is read again."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications.feedback import FeedbackEvent, provider_event_apply

from .events import events_record
from .models import InboxEvent, InboxItem

PROVIDER = "inbox"


def _report(items: Iterable[InboxItem], event_type: str) -> None:
    for item in items:
        provider_event_apply(
            FeedbackEvent(
                provider=PROVIDER,
                event_id=f"{event_type}-{item.pk}",
                event_type=event_type,
                channel="in_app",
                notification_id=str(item.notification_id),
                provider_message_id=f"inbox-{item.pk}",
                occurred_at=timezone.now(),
            )
        )


def items_seen(items: QuerySet[InboxItem]) -> int:
    """The person was shown these items: the unseen ones are stamped and reported delivered."""
    with transaction.atomic():
        fresh = list(items.filter(seen_at__isnull=True).select_for_update())
        InboxItem.objects.filter(pk__in=[i.pk for i in fresh]).update(seen_at=timezone.now())
        events_record(fresh, InboxEvent.Kind.SEEN)
        _report(fresh, "delivered")
    return len(fresh)


def items_read(items: QuerySet[InboxItem]) -> int:
    """Mark these items read (read implies seen); the first read of each is reported as opened."""
    now = timezone.now()
    with transaction.atomic():
        unread = list(items.filter(read_at__isnull=True).select_for_update())
        ids = [i.pk for i in unread]
        InboxItem.objects.filter(pk__in=ids, seen_at__isnull=True).update(seen_at=now)
        InboxItem.objects.filter(pk__in=ids).update(read_at=now)
        events_record(unread, InboxEvent.Kind.READ)
        _report(unread, "delivered")  # a read item was seen (already reported ones are duplicates: ignored)
        _report(unread, "opened")
    return len(unread)


def _flip(items: QuerySet[InboxItem], field: str, value: object, kind: str) -> int:
    with transaction.atomic():
        changed = list(items.select_for_update())
        InboxItem.objects.filter(pk__in=[i.pk for i in changed]).update(**{field: value})
        events_record(changed, kind)
    return len(changed)


def items_unread(items: QuerySet[InboxItem]) -> int:
    """Mark these items unread again (the read already reported stays: it happened)."""
    return _flip(items.exclude(read_at__isnull=True), "read_at", None, InboxEvent.Kind.UNREAD)


def items_archive(items: QuerySet[InboxItem], *, archived: bool) -> int:
    if archived:
        return _flip(items.filter(archived_at__isnull=True), "archived_at", timezone.now(), InboxEvent.Kind.ARCHIVED)
    return _flip(items.exclude(archived_at__isnull=True), "archived_at", None, InboxEvent.Kind.UNARCHIVED)
