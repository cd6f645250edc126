"""Batch call: what both batch forms share around their one ESP call per group.

Before the call, the group's rate limits are taken in one step (or the group goes one by one); after it, every
success is recorded in one statement (row, attempt and cost; group_commit.py) and each message the ESP refused
alone is recorded as its single send would be. A call the ESP took none of hands its rows back to the
per-message path; a call refused for good, or without an answer, is recorded on every row.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from notifications.channels.base import DeliveryError, Provider, SendResult
from notifications.channels.failover import FailoverProvider
from notifications.constants import Status
from notifications.models import Notification
from notifications.ratelimit import limiter, person_rate, sender_rate, type_cap

from .group_commit import success_records
from .outcomes import LOST, Attempt, record_failure, success_record_for

logger = logging.getLogger(__name__)


@dataclass
class GroupOutcome:
    outcomes: list[str]  # one per row settled here
    one_by_one: list[Notification]  # rows the caller sends on the per-message path


def limits_allow(chunk: list[Notification], chain: FailoverProvider) -> bool:
    """Each recipient's limit (one message each), the type's cap and the sender's pace must have room for the
    whole group now (nothing is consumed otherwise); a group that does not fit is sent one by one, each waiting
    its turn. A group larger than the cap's burst never fits (the limiter stretches a burst to one request's
    units, which keeps a pace's average but would let a "3 a minute" cap send 6 at once)."""
    first = chunk[0]
    ntype, channel = first.notification_type, first.channel
    people = [r for n in chunk if (r := person_rate(ntype, channel, n.recipient_id))]
    cap = type_cap(ntype, channel)
    pace = sender_rate(chain.providers[0].sender, critical=False)
    if not people and cap is None and pace is None:
        return True
    if cap is not None and len(chunk) > cap.burst + cap.headroom:
        return False
    common = [*people, *([cap] if cap else [])]
    return limiter().acquire(common=common, choices=[pace] if pace else [], units=len(chunk)).allowed


def batch_call(
    rows: list[Notification],
    send: Callable[[Provider], dict[str, SendResult | DeliveryError]],
    *,
    chain: FailoverProvider,
    token: uuid.UUID,
) -> list[str] | None:
    """`send(provider)` makes the one call for `rows` and answers per notification id (a provider method, e.g.
    `methodcaller("send_batch", batch)`); the outcomes recorded.
    None: send these one by one (no batch sender now, or the ESP took none of them and another may)."""
    provider = chain.batch_sender()
    if provider is None:
        return None
    started, t0 = timezone.now(), time.perf_counter()
    try:
        answers = send(provider)
    except DeliveryError as exc:
        chain.batch_done(provider, seconds=time.perf_counter() - t0, sent=0, error=exc)
        logger.warning("batch of %d to %s failed: %s", len(rows), provider.name, exc.message)
        if exc.transient and not exc.ambiguous:
            return None  # the ESP took none of it: one by one, through the failover chain and its retries
        # refused for good, or no answer (it may have sent them): each row records it as a single send would
        attempt = Attempt(provider=provider.name, started=started, duration_ms=_ms(t0), called_provider=True)
        return [record_failure(n, error=exc, token=token, attempt=attempt) for n in rows]
    sent = {key: answer for key, answer in answers.items() if isinstance(answer, SendResult)}
    chain.batch_done(provider, seconds=time.perf_counter() - t0, sent=len(sent), error=None)
    attempt = Attempt(provider=provider.name, started=started, duration_ms=_ms(t0), called_provider=True)
    outcomes = _record_sent([n for n in rows if str(n.pk) in sent], sent, token=token, attempt=attempt)
    for n in rows:
        refused = answers[str(n.pk)]
        if isinstance(refused, DeliveryError):  # the ESP refused this message alone
            outcomes.append(record_failure(n, error=refused, token=token, attempt=attempt))
    return outcomes


def _record_sent(
    rows: list[Notification], results: dict[str, SendResult], *, token: uuid.UUID, attempt: Attempt
) -> list[str]:
    """Every success of the call in one statement (row, attempt, cost)."""
    if not rows:  # the ESP refused every message of the call
        return []
    now = timezone.now()
    records = [success_record_for(n, result=results[str(n.pk)], token=token, attempt=attempt, now=now) for n in rows]
    outcomes = []
    for record, owned in zip(records, success_records(records), strict=True):
        if not owned:
            logger.warning(
                "notification %s was sent in a batch after its claim was taken over: possible duplicate",
                record.notification.pk,
            )
        outcomes.append(Status.SENT if owned else LOST)
    return outcomes


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
