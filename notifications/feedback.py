"""Provider feedback: what ESPs (through anymail's tracking webhooks) and Twilio (status callbacks) report
after a message was accepted.

Every event is recorded once per provider event id; a resent or replayed event changes nothing. Events move a
notification forward only (`sent` -> `delivered`, `sent` -> `failed`): a late "queued" or "sent" never
undoes "delivered". Hard bounces, complaints and provider unsubscribes put the address on the suppression list;
Twilio's final price replaces the estimate in the cost ledger once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from costs.models import CostEntry
from preferences.constants import MARKETING
from preferences.models import ConsentAction, ConsentSource, SuppressionReason
from preferences.services import Evidence, consent_record, sms_opt_out, suppression_add

from .constants import Status
from .lifecycle import happened_to
from .models import Notification, ProviderEvent
from .status import status_announce, status_move
from .trace import trace_step

logger = logging.getLogger(__name__)

# normalized event -> (the status it moves a `sent` notification to, or None: recorded only)
_MOVES = {
    "delivered": Status.DELIVERED,
    "opened": Status.DELIVERED,  # opening proves delivery
    "clicked": Status.DELIVERED,
    "bounced": Status.FAILED,
    "rejected": Status.FAILED,
    "failed": Status.FAILED,
    "undelivered": Status.FAILED,
    # progress events only matter for a row whose send timed out: the provider has it after all
    "queued": Status.SENT,
    "sent": Status.SENT,
}
_SUPPRESS = {
    "bounced": SuppressionReason.BOUNCE,
    "complained": SuppressionReason.COMPLAINT,
    "unsubscribed": SuppressionReason.UNSUBSCRIBE,
}


@dataclass
class FeedbackEvent:
    provider: str
    event_id: str
    event_type: str  # normalized: delivered, bounced, complained, deferred, opened, clicked, unsubscribed, failed
    channel: str
    notification_id: str | None = None
    provider_message_id: str = ""
    address: str = ""
    description: str = ""
    error_code: str = ""
    occurred_at: datetime | None = None
    price: Decimal | None = None
    price_currency: str = ""
    payload: dict | None = None
    url: str = ""  # a click's link


def _find(event: FeedbackEvent) -> Notification | None:
    if event.notification_id:
        try:
            found = Notification.objects.filter(pk=event.notification_id).first()
        except (ValidationError, ValueError):  # a malformed id in provider metadata
            found = None
        if found is not None:
            return found
    if event.provider_message_id:
        return Notification.objects.filter(provider_message_id=event.provider_message_id).first()
    return None


def provider_event_apply(event: FeedbackEvent) -> ProviderEvent | None:
    """Record `event` once and apply it. Returns None for a duplicate (already recorded: nothing changes)."""
    with transaction.atomic():
        notification = _find(event)
        try:
            with transaction.atomic():
                recorded = ProviderEvent.objects.create(
                    notification=notification,
                    provider=event.provider,
                    event_id=event.event_id[:255],
                    event_type=event.event_type[:32],
                    address=event.address[:254],
                    description=(event.description or "")[:2000],
                    occurred_at=event.occurred_at,
                    payload=event.payload or {},
                )
        except IntegrityError:
            logger.info("%s event %s already recorded; ignored", event.provider, event.event_id)
            return None
        if notification is not None:
            _move(notification, event)
            if event.price is not None:
                _final_price(notification, price=event.price, currency=event.price_currency)
        _follow_up(notification, event)
    return recorded


def _move(notification: Notification, event: FeedbackEvent) -> None:
    target = _MOVES.get(event.event_type)
    if target is None:
        return
    now = timezone.now()
    fields: dict[str, Any] = {}
    if target == Status.SENT:
        fields["sent_at"] = event.occurred_at or now
        reason = f"{event.provider} reports {event.event_type}: it has the message"
    elif target == Status.DELIVERED:
        fields["delivered_at"] = event.occurred_at or now
        reason = f"{event.provider} reports {event.event_type}"
    else:
        fields["failed_at"] = event.occurred_at or now
        fields["last_error"] = f"{event.provider} reports {event.event_type}: {event.description}"[:2000]
        fields["error_code"] = (event.error_code or event.event_type)[:64]
        reason = fields["last_error"]
    # forward only: from `sent` (or an `unknown` send) and nowhere else; a late event never undoes "delivered"
    sources = [Status.UNKNOWN] if target == Status.SENT else [Status.SENT, Status.UNKNOWN]
    moved = status_move(
        Notification.objects.filter(pk=notification.pk),
        to=target,
        sources=sources,
        now=now,
        step=trace_step("provider", event.event_type, reason),
        trace=notification.decision_trace,
        event="bounced" if event.event_type == "bounced" else None,
        **fields,
    )
    if moved:
        logger.info("notification %s: %s (%s)", notification.pk, target, event.provider)
    if event.event_type in ("opened", "clicked"):  # not a move (after the first): an event all the same
        status_announce([happened_to(notification, event.event_type, at=event.occurred_at or now, url=event.url)])


def _final_price(notification: Notification, *, price: Decimal, currency: str) -> None:
    """The provider's bill replaces our estimate, once (a second report of the price changes nothing)."""
    amount = abs(price)
    updated = CostEntry.objects.filter(notification=notification, is_estimate=True).update(
        amount=amount,
        currency=(currency or "USD").upper()[:3],
        is_estimate=False,
        updated_at=timezone.now(),
    )
    if updated:
        Notification.objects.filter(pk=notification.pk).update(cost=amount)


def _follow_up(notification: Notification | None, event: FeedbackEvent) -> None:
    """Bounces, complaints and unsubscribes protect the address from now on. An address we cannot parse is
    logged, not raised: the event is recorded, and a provider retrying it forever would change nothing."""
    try:
        _protect(notification, event)
    except ValidationError as exc:
        logger.warning("%s event %s: address not protected (%s)", event.provider, event.event_id, exc.messages)


def _protect(notification: Notification | None, event: FeedbackEvent) -> None:
    address = event.address or (notification.to_address if notification is not None else "")
    if not address:
        return
    if event.channel == "sms" and event.error_code == "21610":
        sms_opt_out(phone=address, keyword="STOP", reference=event.event_id, detail=f"{event.provider} error 21610")
        return
    reason = _SUPPRESS.get(event.event_type)
    if reason is None:
        return
    suppression_add(
        channel=event.channel,
        address=address,
        reason=reason,
        detail=event.description[:500] if event.description else f"{event.provider} {event.event_type}",
        source_event={"provider": event.provider, "event_id": event.event_id, "event": event.event_type},
        actor=event.provider,
        # the organisation that sent it (an event about no message we know: the default one's)
        organisation_id=notification.organisation_id if notification is not None else None,
    )
    if event.event_type == "unsubscribed" and notification is not None:
        consent_record(
            recipient=notification.recipient,
            channel=event.channel,
            purpose=MARKETING,
            action=ConsentAction.WITHDRAWN,
            evidence=Evidence(source=ConsentSource.PROVIDER_EVENT, reference=event.event_id, actor=event.provider),
        )


def parse_price(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
