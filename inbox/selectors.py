"""Reading a person's inbox."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import InboxItem


def inbox_of(recipient_id: int | None) -> QuerySet[InboxItem]:
    """Every item of one person (none for a person commhub has never sent to)."""
    if recipient_id is None:
        return InboxItem.objects.none()
    return InboxItem.objects.filter(recipient_id=recipient_id)


def unread_count(recipient_id: int | None) -> int:
    """The badge: unread items that are not archived (an index holds exactly these)."""
    return inbox_of(recipient_id).filter(read_at__isnull=True, archived_at__isnull=True).count()
