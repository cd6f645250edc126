"""Outcomes: what happened to a send, written once.

* sent: the row, its attempt and its cost entry; in a drain, written with other successes (group_commit.py);
* failed for now (pending, with a backoff), or for good (failed, then the fallback channel);
* unknown: the request went out and no answer came back; the row waits for the provider's callback;
* suppressed: the last re-check refused it; nothing was sent.

Every write is guarded by the drain's claim token: a row whose lease expired and that another worker took over
is not overwritten (the outcome is "lost", logged). Failures are written before the sender takes another row;
successes wait for their batch: after a crash at most 2 x COMMHUB_RECORD_BATCH successes and the sends in
flight (one per sender thread) are unrecorded.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from commhub import channels
from commhub.channels import MESSAGE
from commhub.conf import knobs
from costs.services import cost_line_for
from notifications.channels.base import DeliveryError, SendResult
from notifications.constants import Status
from notifications.models import DeliveryAttempt, Notification
from notifications.queueing import wake_after_backoff
from notifications.status import status_move
from notifications.trace import trace_step
from preferences.policy import Verdict
from preferences.services import sms_opt_out

from .claim import claimed
from .fallback import fallback_create
from .group_commit import SuccessRecord, success_record
from .write_behind import WriteBehind

logger = logging.getLogger(__name__)

LOST = "lost"  # the claim was taken over while this drain was sending: the outcome is not ours to write
RECORDING = "recording"  # sent; its record waits to be written with others (the drain counts it then)
TWILIO_OPTED_OUT = "twilio_21610"  # "Attempt to send to unsubscribed recipient"


@dataclass(frozen=True)
class Attempt:
    """One try: who it went to, when, how long it took, and whether a provider was called at all."""

    provider: str
    started: datetime
    duration_ms: int
    called_provider: bool


def backoff_seconds(*, base: int, attempt: int) -> float:
    """Exponential backoff with +/-20% jitter: base, 2*base, 4*base, ... for attempts 1, 2, 3, ..."""
    return base * (2 ** max(0, attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def _settle(notification: Notification, token: uuid.UUID, *, to: str, now: datetime, step: dict, **fields: Any) -> bool:
    """End this drain's claim on the row with a move to `to`, if it still holds it. Returns whether it did."""
    return bool(
        status_move(
            claimed([notification], token),
            to=to,
            sources=[Status.SENDING],
            now=now,
            step=step,
            trace=notification.decision_trace,
            claim_token=None,
            lease_expires_at=None,
            **fields,
        )
    )


def success_record_for(
    notification: Notification, *, result: SendResult, token: uuid.UUID, attempt: Attempt, now: datetime
) -> SuccessRecord:
    """What a successful send writes: the row's new state, its attempt and its cost (the provider's own
    price when it reported one, else the price table's)."""
    segments = result.segments
    spec = channels.get(notification.channel)
    if segments is None and spec.cost_unit != MESSAGE:
        segments = spec.units(notification.rendered_body)
    entry = cost_line_for(
        channel=notification.channel,
        provider=attempt.provider,
        segments=segments,
        to=notification.to_address,
        at=now,
        organisation_id=notification.organisation_id,
    )
    if entry is not None and result.price is not None:  # the provider's own bill beats our price table
        entry.amount, entry.is_estimate = result.price, False
        entry.currency = result.currency or entry.currency
    return SuccessRecord(
        notification=notification,
        token=token,
        provider=attempt.provider,
        provider_message_id=result.provider_message_id,
        attempt_number=notification.attempts + 1,
        segments=segments,
        cost=entry,
        started_at=attempt.started,
        duration_ms=attempt.duration_ms,
        now=now,
    )


def record_success(
    notification: Notification,
    *,
    result: SendResult,
    token: uuid.UUID,
    attempt: Attempt,
    recorder: WriteBehind | None,
) -> str:
    record = success_record_for(notification, result=result, token=token, attempt=attempt, now=timezone.now())
    if recorder is not None:
        recorder.add(record)
        return RECORDING
    return Status.SENT if success_record(record) else lost(record)


def lost(record: SuccessRecord) -> str:
    logger.warning(
        "notification %s was sent (provider id %s) after its claim was taken over: possible duplicate",
        record.notification.pk,
        record.provider_message_id,
    )
    return LOST


def record_suppressed(notification: Notification, *, refusal: Verdict, token: uuid.UUID) -> str:
    """The re-check refused the row just before the provider call: nothing was sent."""
    step = trace_step(refusal.check, refusal.outcome, f"re-checked before sending: {refusal.reason}")
    with transaction.atomic():
        owned = _settle(
            notification,
            token,
            to=Status.SUPPRESSED,
            now=timezone.now(),
            step=step,
            last_error=refusal.reason[:2000],
            error_code=refusal.code[:64],
        )
        if owned:
            fallback_create(notification=notification, reason=refusal.reason)
    if not owned:
        return LOST
    logger.info("notification %s suppressed before sending: %s", notification.pk, refusal.reason)
    return Status.SUPPRESSED


def expiry_step(notification: Notification, now: datetime, *, check: str = "expiry") -> dict:
    late = now - notification.expires_at if notification.expires_at else timedelta(0)
    return trace_step(
        check,
        "expire",
        f"not handed to a provider before it expired at {notification.expires_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({_duration(late)} ago): not sent late",
    )


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def record_expired(notification: Notification, *, now: datetime, token: uuid.UUID) -> str:
    """Its time to live ran out while it waited (an outage, a backlog): it ends `expired`, nothing is sent."""
    owned = _settle(
        notification,
        token,
        to=Status.EXPIRED,
        now=now,
        step=expiry_step(notification, now),
        error_code="expired",
        last_error="expired before it could be sent",
    )
    if owned:
        logger.info("notification %s expired before sending", notification.pk)
    return Status.EXPIRED if owned else LOST


def record_deferred(notification: Notification, *, until: datetime, step: dict, token: uuid.UUID) -> str:
    """Nothing was sent: the row is held (scheduled) until `until`, e.g. the recipient's send window opens.
    The claim is not counted against the row (it was not a failed try)."""
    owned = _settle(
        notification, token, to=Status.SCHEDULED, now=timezone.now(), step=step, send_at=until, claims=F("claims") - 1
    )
    return Status.SCHEDULED if owned else LOST


def _write_attempt(
    notification: Notification, *, number: int, outcome: str, error: DeliveryError, attempt: Attempt
) -> None:
    DeliveryAttempt.objects.create(
        notification=notification,
        number=number,
        provider=attempt.provider,
        outcome=outcome,
        error_code=error.code[:64],
        error_message=error.message[:2000],
        started_at=attempt.started,
        duration_ms=attempt.duration_ms,
    )


def record_failure(notification: Notification, *, error: DeliveryError, token: uuid.UUID, attempt: Attempt) -> str:
    """A transient error retries after a backoff (pending) until the attempts run out; a permanent one, or the
    last, fails the row (a dead letter staff can requeue) and tries the type's fallback channel."""
    now = timezone.now()
    number = notification.attempts + (1 if attempt.called_provider else 0)
    if error.ambiguous and attempt.called_provider:
        return _record_unknown(notification, error=error, token=token, attempt=attempt, number=number)
    retry = error.transient and number < notification.max_attempts
    if retry:
        delay = backoff_seconds(base=notification.notification_type.retry_base_delay, attempt=number)
        delay = max(delay, error.retry_after or 0.0)  # the provider's Retry-After, when it asked for longer
        to, extra = Status.PENDING, {"send_at": now + timedelta(seconds=delay)}
        reason = f"attempt {number} of {notification.max_attempts} failed ({error.message}); retry in {delay:.0f}s"
    else:
        to, extra = Status.FAILED, {}
        why = "retries exhausted" if error.transient else "permanent error"
        reason = f"{why} after attempt {number}: {error.message}"
    with transaction.atomic():
        owned = _settle(
            notification,
            token,
            to=to,
            now=now,
            step=trace_step("delivery", "retry" if retry else "fail", reason),
            attempts=number,
            provider=attempt.provider,
            last_error=error.message[:2000],
            error_code=error.code[:64],
            **extra,
        )
        if attempt.called_provider:
            outcome = DeliveryAttempt.Outcome.TRANSIENT if error.transient else DeliveryAttempt.Outcome.PERMANENT
            _write_attempt(notification, number=number, outcome=outcome, error=error, attempt=attempt)
        if owned and not retry:
            fallback_create(notification=notification, reason=error.message)
    if error.code == TWILIO_OPTED_OUT and notification.to_address:
        _record_provider_opt_out(notification)
    if not owned:
        logger.warning("notification %s failed after its claim was taken over; outcome not recorded", notification.pk)
        return LOST
    if retry:
        logger.info("notification %s: %s", notification.pk, reason)
        if delay <= knobs().retry_countdown_max_seconds:
            transaction.on_commit(lambda: wake_after_backoff(notification.pk, notification.queue, delay))
        return Status.PENDING
    logger.warning("notification %s failed: %s", notification.pk, reason)
    return Status.FAILED


def _record_unknown(
    notification: Notification, *, error: DeliveryError, token: uuid.UUID, attempt: Attempt, number: int
) -> str:
    """The request went out and no answer came back: the provider may have sent it. Not retried blindly; the
    row waits as `unknown` for the provider's callback, or for the sweeper (COMMHUB_UNKNOWN_SETTLE_SECONDS)."""
    reason = f"no answer from {attempt.provider} after sending ({error.message}); waiting for its callback"
    with transaction.atomic():
        owned = _settle(
            notification,
            token,
            to=Status.UNKNOWN,
            now=timezone.now(),
            step=trace_step("delivery", "unknown", reason),
            attempts=number,
            provider=attempt.provider,
            last_error=error.message[:2000],
            error_code=error.code[:64],
        )
        _write_attempt(
            notification, number=number, outcome=DeliveryAttempt.Outcome.UNKNOWN, error=error, attempt=attempt
        )
    if not owned:
        return LOST
    logger.warning("notification %s: %s", notification.pk, reason)
    return Status.UNKNOWN


def _record_provider_opt_out(notification: Notification) -> None:
    """Twilio says the recipient replied STOP (to Twilio's own opt-out handling): record it as ours."""
    try:
        sms_opt_out(
            phone=notification.to_address,
            keyword="STOP",
            reference=str(notification.pk),
            detail=f"Twilio error 21610 when sending notification {notification.pk}",
        )
    except ValidationError:  # a number phonenumbers cannot parse: the failure is recorded, the opt-out cannot be
        logger.warning(
            "notification %s: Twilio 21610 for %r not recorded as an opt-out", notification.pk, notification.to_address
        )
