"""What notifications adds to a privacy request (preferences.privacy runs them): a recipient's notifications in
the export; on erasure, their bodies, data and error texts blanked, waiting ones cancelled, captured copies
deleted (the skeleton stays so counts and costs add up)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from preferences.models import Recipient
from preferences.privacy import erasure_step, export_section, iso

from .constants import Status
from .models import CapturedMessage, DeliveryAttempt, Notification
from .status import status_move
from .trace import trace_blanked, trace_step

_WAITING = [Status.SCHEDULED, Status.PENDING, Status.QUEUED]
# what identifies the person or says what was sent, blanked on erasure and by retention (notifications.retention)
PERSONAL_BLANKED = {
    "to_address": "",
    "data": {},
    "rendered_subject": "",
    "rendered_body": "",
    "rendered_html": "",
    "last_error": "",
}


@export_section("notifications")
def notifications_export(recipient: Recipient) -> list[dict[str, Any]]:
    notifications = (
        Notification.objects.filter(recipient=recipient)
        .select_related("notification_type")
        .prefetch_related("attempts_log")
        .order_by("created_at")
    )
    return [
        {
            "id": str(n.pk),
            "type": n.notification_type.key,
            "channel": n.channel,
            "status": n.status,
            "to_address": n.to_address,
            "data": n.data,
            "rendered_subject": n.rendered_subject,
            "rendered_body": n.rendered_body,
            "decision_trace": n.decision_trace,
            "created_at": iso(n.created_at),
            "send_at": iso(n.send_at),
            "sent_at": iso(n.sent_at),
            "delivered_at": iso(n.delivered_at),
            "purged_at": iso(n.purged_at),  # its words and data were purged by retention: blank above
            "cost": None if n.cost is None else str(n.cost),
            "currency": n.currency,
            "attempts": [
                {"number": a.number, "provider": a.provider, "outcome": a.outcome, "at": iso(a.started_at)}
                for a in n.attempts_log.all()
            ],
        }
        for n in notifications
    ]


@erasure_step
def notifications_erase(recipient: Recipient, now: datetime) -> dict[str, int]:
    cancelled, ids = 0, []
    for n in Notification.objects.filter(recipient=recipient).only("pk", "status", "decision_trace"):
        ids.append(n.pk)
        trace = trace_blanked(n.decision_trace, "(erased)")
        common: dict[str, Any] = {**PERSONAL_BLANKED, "updated_at": now}
        # one update per row: a waiting one is cancelled too (unless a worker claimed it meanwhile)
        if n.status in _WAITING and status_move(
            Notification.objects.filter(pk=n.pk),
            to=Status.CANCELLED,
            sources=_WAITING,
            now=now,
            step=trace_step("cancel", "stop", "(erased)"),
            trace=trace,
            **common,
        ):
            cancelled += 1
            continue
        Notification.objects.filter(pk=n.pk).update(decision_trace=trace, **common)
    DeliveryAttempt.objects.filter(notification_id__in=ids).update(error_message="")
    captured, _ = CapturedMessage.objects.filter(notification_id__in=ids).delete()
    return {"notifications": len(ids), "cancelled": cancelled, "captured_messages_deleted": captured}
