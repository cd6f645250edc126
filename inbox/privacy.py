"""What the inbox adds to a privacy request (preferences.privacy runs them): the person's items in the export;
on erasure, the items (their rendered words are personal data) and their event log deleted. The notifications
they came from keep their skeleton (notifications.privacy), so counts and costs still add up. Retention's purge
(notifications.retention) deletes the items of the notifications it purges the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifications.retention import purge_step
from preferences.models import Recipient
from preferences.privacy import erasure_step, export_section, iso

from .models import InboxEvent, InboxItem


@export_section("inbox")
def inbox_export(recipient: Recipient) -> list[dict[str, Any]]:
    return [
        {
            "id": item.pk,
            "notification": str(item.notification_id),
            "title": item.title,
            "body": item.body,
            "action_url": item.action_url,
            "action_label": item.action_label,
            "category": item.category,
            "created_at": iso(item.created_at),
            "seen_at": iso(item.seen_at),
            "read_at": iso(item.read_at),
            "archived_at": iso(item.archived_at),
        }
        for item in InboxItem.objects.filter(recipient=recipient).order_by("created_at", "id")
    ]


@erasure_step
def inbox_erase(recipient: Recipient, now: datetime) -> dict[str, int]:
    InboxEvent.objects.filter(recipient=recipient).delete()
    deleted, _ = InboxItem.objects.filter(recipient=recipient).delete()
    return {"inbox_items_deleted": deleted}


@purge_step
def inbox_purge(notification_ids: list) -> dict[str, int]:
    """Retention purged these notifications' words: their in-app items (and the items' events) go too."""
    items = InboxItem.objects.filter(notification_id__in=notification_ids)
    InboxEvent.objects.filter(item__in=items).delete()
    deleted, _ = items.delete()
    return {"inbox_items": deleted}
