"""Send: one claimed row, from the last check to the provider's answer.

A row past its expiry (the type's time to live) ends `expired` without a provider call. Then the person is
re-checked (a STOP that arrived while the row waited wins; the drain re-checks a claimed batch in one go, and
that answer stands for a second), and the send window (a row
that waited past the recipient's 21:00 is held until their 08:00), then the message is rendered
and handed to the channel's provider chain within its rate limits: a short wait is slept here, a longer one
gives the row back to the queue (Throttled). Whatever happens is written by outcomes.py: a failure before the
sender takes another row, a success with others (write_behind.WriteBehind) when a drain passes its recorder.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.utils import timezone

from commhub.conf import knobs
from commhub.logs import notification_context
from notifications.channels.base import DeliveryError, OutboundMessage, PermanentError, Provider, SendResult
from notifications.decision import recheck_before_send, send_window_at_send
from notifications.models import Notification
from notifications.ratelimit import Throttled
from preferences.policy import Verdict

from .claim import hold_back
from .outbound import outbound_message
from .outcomes import Attempt, record_deferred, record_expired, record_failure, record_success, record_suppressed
from .write_behind import WriteBehind

# A re-check made for the whole claimed batch stands in for the row's own for this long; a row that waited
# longer in the drain's buffer (a paced sender) is re-checked on its own.
PRECHECK_FRESH_SECONDS = 1.0


@dataclass(frozen=True)
class Precheck:
    """The re-check's answer for a row, made with its claimed batch (one policy evaluation for all)."""

    refusal: Verdict | None
    at: float  # time.monotonic() when it was made


def notification_deliver(
    notification: Notification,
    *,
    provider: Provider,
    token: uuid.UUID,
    recorder: WriteBehind | None = None,
    precheck: Precheck | None = None,
) -> str:
    """Send one claimed notification and record the outcome. Returns the status it ended in ("lost" when its
    claim was taken over). Every log line written meanwhile (here, in the provider chain, in anymail or
    Twilio's client) carries its id."""
    with notification_context(notification.pk):
        return _deliver(notification, provider=provider, token=token, recorder=recorder, precheck=precheck)


def _deliver(
    notification: Notification,
    *,
    provider: Provider,
    token: uuid.UUID,
    recorder: WriteBehind | None,
    precheck: Precheck | None,
) -> str:
    started = timezone.now()
    t0 = time.perf_counter()
    if notification.expires_at is not None and started >= notification.expires_at:
        return record_expired(notification, now=started, token=token)
    if precheck is not None and time.monotonic() - precheck.at <= PRECHECK_FRESH_SECONDS:
        refusal = precheck.refusal
    else:
        refusal = recheck_before_send(notification)
    if refusal is not None:
        return record_suppressed(notification, refusal=refusal, token=token)
    held = send_window_at_send(notification, now=started)
    if held is not None:
        until, step = held
        return record_deferred(notification, until=until, step=step, token=token)
    try:
        message = outbound_message(notification)
    except PermanentError as exc:  # nothing reached the provider: no attempt is spent
        attempt = Attempt(provider=provider.name, started=started, duration_ms=0, called_provider=False)
        return record_failure(notification, error=exc, token=token, attempt=attempt)
    try:
        result = send_within_limits(provider, message)
    except Throttled as exc:
        hold_back([notification], token, exc, until_room=exc.rate.per_person)
        raise
    except DeliveryError as exc:
        attempt = Attempt(provider=provider.name, started=started, duration_ms=_ms_since(t0), called_provider=True)
        return record_failure(notification, error=exc, token=token, attempt=attempt)
    attempt = Attempt(
        provider=result.provider or provider.name, started=started, duration_ms=_ms_since(t0), called_provider=True
    )
    return record_success(notification, result=result, token=token, attempt=attempt, recorder=recorder)


def _ms_since(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def send_within_limits(provider: Provider, message: OutboundMessage) -> SendResult:
    """Send, waiting in this thread for a rate limit whose room comes back soon (COMMHUB_RATE_WAIT_INLINE_SECONDS
    in all); a longer wait raises Throttled for the drain to put the row back."""
    budget = knobs().rate_wait_inline_seconds
    while True:
        try:
            return provider.send(message)
        except Throttled as exc:
            if exc.wait > budget:
                raise
            budget -= exc.wait
            time.sleep(exc.wait)
