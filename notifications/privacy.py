"""Privacy requests: export everything held about a recipient; erase a recipient.

Erasure removes contact points, attributes, preferences, message bodies, request data and error texts, and
cancels what has not gone yet. It keeps, under a pseudonymous id, what the law asks us to keep or what
holds no personal data: the consent ledger (proof of consent, GDPR art. 7(1)), the suppression list (so an
erased person is never messaged again), cost rows, and each notification's skeleton (type, channel,
status, timestamps) so counts and costs still add up.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from preferences.models import Recipient, actor_name
from preferences.policy import address_key
from preferences.selectors import consent_current, consent_ledger, preferences_of, suppressions_for_addresses
from preferences.services import recipient_anonymise

from .constants import Status
from .models import CapturedMessage, DeliveryAttempt, Notification
from .trace import trace_step

logger = logging.getLogger(__name__)

_WAITING = [Status.SCHEDULED, Status.PENDING, Status.QUEUED]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def recipient_export_data(recipient: Recipient) -> dict[str, Any]:
    """Everything commhub holds about one recipient, as JSON-ready data (GDPR art. 15 / 20)."""
    addresses = [(c, address_key(c, recipient.address_for(c))) for c in ("email", "sms") if recipient.address_for(c)]
    notifications = (
        Notification.objects.filter(recipient=recipient)
        .select_related("notification_type")
        .prefetch_related("attempts_log")
        .order_by("created_at")
    )
    return {
        "exported_at": timezone.now().isoformat(),
        "recipient": {
            "external_id": recipient.external_id,
            "email": recipient.email,
            "phone": recipient.phone,
            "timezone": recipient.timezone,
            "locale": recipient.locale,
            "attributes": recipient.attributes,
            "send_window_start": _iso(recipient.send_window_start),
            "send_window_end": _iso(recipient.send_window_end),
            "erased_at": _iso(recipient.erased_at),
            "created_at": _iso(recipient.created_at),
            "updated_at": _iso(recipient.updated_at),
        },
        "preferences": [
            {
                "type": p.notification_type.key if p.notification_type_id else None,
                "category": p.category,
                "channel": p.channel,
                "enabled": p.enabled,
                "updated_at": _iso(p.updated_at),
            }
            for p in preferences_of(recipient)
        ],
        "consent_current": [
            {
                "channel": s.channel,
                "purpose": s.purpose,
                "category": s.category,
                "action": s.action,
                "since": _iso(s.since),
                "source": s.source,
            }
            for s in consent_current(recipient)
        ],
        "consent_ledger": [consent_record_data(r) for r in consent_ledger(recipient)],
        "suppressions": [
            {
                "channel": s.channel,
                "address": s.address,
                "reason": s.reason,
                "detail": s.detail,
                "created_at": _iso(s.created_at),
                "lifted_at": _iso(s.lifted_at),
            }
            for s in suppressions_for_addresses(addresses)
        ],
        "notifications": [
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
                "created_at": _iso(n.created_at),
                "send_at": _iso(n.send_at),
                "sent_at": _iso(n.sent_at),
                "delivered_at": _iso(n.delivered_at),
                "cost": None if n.cost is None else str(n.cost),
                "currency": n.currency,
                "attempts": [
                    {"number": a.number, "provider": a.provider, "outcome": a.outcome, "at": _iso(a.started_at)}
                    for a in n.attempts_log.all()
                ],
            }
            for n in notifications
        ],
    }


def consent_record_data(record) -> dict[str, Any]:
    """One ledger entry as exported (JSON and CSV share these columns)."""
    return {
        "id": record.pk,
        "recipient": record.recipient.external_id,
        "channel": record.channel,
        "purpose": record.purpose,
        "category": record.category,
        "action": record.action,
        "source": record.source,
        "ip_address": record.ip_address,
        "user_agent": record.user_agent,
        "consent_text": record.consent_text,
        "text_version": record.text_version,
        "actor": record.actor,
        "reference": record.reference,
        "created_at": _iso(record.created_at),
    }


def recipient_erase(*, recipient: Recipient, actor=None) -> dict[str, int]:
    """Erase the recipient's personal data (GDPR art. 17); see the module docstring for what is kept."""
    now = timezone.now()
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        cancelled, ids = 0, []
        blank = {"to_address": "", "data": {}, "rendered_subject": "", "rendered_body": "", "rendered_html": ""}
        for n in Notification.objects.filter(recipient=recipient).only("pk", "status", "decision_trace"):
            ids.append(n.pk)
            trace = [trace_step(s.get("check", ""), s.get("outcome", ""), "(erased)") for s in n.decision_trace]
            common = {**blank, "last_error": "", "updated_at": now}
            # one update per row: a waiting one is cancelled too (unless a worker claimed it meanwhile)
            if n.status in _WAITING and Notification.objects.filter(pk=n.pk, status__in=_WAITING).update(
                status=Status.CANCELLED,
                cancelled_at=now,
                decision_trace=[*trace, trace_step("cancel", "stop", "(erased)")],
                **common,
            ):
                cancelled += 1
                continue
            Notification.objects.filter(pk=n.pk).update(decision_trace=trace, **common)
        DeliveryAttempt.objects.filter(notification_id__in=ids).update(error_message="")
        captured, _ = CapturedMessage.objects.filter(notification_id__in=ids).delete()
        recipient_anonymise(recipient=recipient, at=now)
    logger.warning("recipient erased by %s: %d notifications anonymised", actor_name(actor), len(ids))
    return {"notifications": len(ids), "cancelled": cancelled, "captured_messages_deleted": captured}
