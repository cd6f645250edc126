"""Recovery: what no worker is holding.

* Due rows: scheduled and retry-waiting rows whose moment has come are queued, and their queues woken (beat
  runs this every few seconds; a retry with a short backoff also wakes itself).
* Abandoned claims: rows whose lease expired (their worker died) go back to the queue; a row claimed too
  often without finishing is failed as poison instead of looping.
* Lost wake-ups: queues whose ready rows sit untouched are woken again.
* Unknown sends: an `unknown` row no callback settled is sent once more (at most one duplicate, against never
  delivering); the second time it is failed for staff to look at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from commhub.conf import knobs
from notifications.constants import Status
from notifications.idempotency import idempotency_keys_purge
from notifications.models import Notification
from notifications.queueing import kick
from notifications.selectors import notifications_due, notifications_with_expired_lease, queues_with_stale_rows
from notifications.status import status_move
from notifications.trace import trace_step

from .fallback import fallback_create
from .outcomes import expiry_step

logger = logging.getLogger(__name__)


def notifications_promote_due(
    *, now: datetime | None = None, ids: list | None = None, limit: int = 5000
) -> dict[str, int]:
    """Move due scheduled/retry-waiting rows to `queued` and wake their queues. Returns {queue: rows}."""
    now = now or timezone.now()
    promoted: dict[str, int] = {}
    while True:
        with transaction.atomic():
            due = notifications_due(now=now)
            if ids is not None:
                due = due.filter(pk__in=ids)
            rows = list(due.select_for_update(skip_locked=True).order_by("send_at").values_list("pk", "queue")[:limit])
            if not rows:
                break
            status_move(
                Notification.objects.filter(pk__in=[pk for pk, _ in rows]),
                to=Status.QUEUED,
                sources=[Status.SCHEDULED, Status.PENDING],
                now=now,
            )
        for _, queue in rows:
            promoted[queue] = promoted.get(queue, 0) + 1
        if len(rows) < limit or ids is not None:
            break
    for queue in promoted:
        kick(queue)
    return promoted


@dataclass
class SweepResult:
    requeued: int = 0
    poisoned: int = 0
    rekicked_queues: list[str] = field(default_factory=list)
    expired_keys: int = 0
    unknown_requeued: int = 0
    unknown_failed: int = 0
    unknown_expired: int = 0  # past their time to live: not sent again


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Recover rows abandoned by dead workers and queues whose wake-ups were lost."""
    now = now or timezone.now()
    result = SweepResult()
    queues: set[str] = set()
    result.requeued, result.poisoned = _recover_expired_leases(now=now, queues=queues)
    result.unknown_requeued, result.unknown_failed, result.unknown_expired = _settle_unknown(now=now, queues=queues)
    stale_before = now - timedelta(seconds=knobs().stale_queued_seconds)
    queues.update(queues_with_stale_rows(older_than=stale_before))
    for queue in sorted(queues):
        kick(queue)
    result.rekicked_queues = sorted(queues)
    result.expired_keys = idempotency_keys_purge(now=now)
    if result.requeued or result.poisoned:
        logger.warning("sweeper: %d expired leases re-queued, %d poison rows failed", result.requeued, result.poisoned)
    return result


def _recover_expired_leases(*, now: datetime, queues: set[str]) -> tuple[int, int]:
    """Expired leases back to the queue (their queues are added to `queues`), or failed as poison. Returns
    (requeued, poisoned)."""
    max_claims = knobs().max_claims
    requeued = poisoned = 0
    with transaction.atomic():
        expired = list(
            notifications_with_expired_lease(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("notification_type", "recipient")[:5000]
        )
        for notification in expired:
            row = Notification.objects.filter(pk=notification.pk)
            if notification.claims >= max(max_claims, notification.max_attempts + 1):
                reason = f"abandoned by a worker {notification.claims} times (poison message?)"
                status_move(
                    row,
                    to=Status.FAILED,
                    sources=[Status.SENDING],
                    now=now,
                    step=trace_step("sweeper", "fail", reason),
                    trace=notification.decision_trace,
                    claim_token=None,
                    lease_expires_at=None,
                    last_error=reason,
                    error_code="poison",
                )
                fallback_create(notification=notification, reason=reason)
                poisoned += 1
            else:
                status_move(
                    row, to=Status.QUEUED, sources=[Status.SENDING], now=now, claim_token=None, lease_expires_at=None
                )
                queues.add(notification.queue)
                requeued += 1
    return requeued, poisoned


def _settle_unknown(*, now: datetime, queues: set[str]) -> tuple[int, int, int]:
    """`unknown` rows no callback settled within COMMHUB_UNKNOWN_SETTLE_SECONDS: the first time, send again (at
    most one duplicate, against never delivering) unless it has expired; the second time, fail them for staff
    to look at. Returns (requeued, failed, expired)."""
    before = now - timedelta(seconds=knobs().unknown_settle_seconds)
    requeued = failed = expired = 0
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.UNKNOWN, updated_at__lt=before)
            .only("pk", "queue", "decision_trace", "expires_at")[:1000]
        )
        for n in rows:
            again = any(step.get("check") == "sweeper" and step.get("outcome") == "resend" for step in n.decision_trace)
            row = Notification.objects.filter(pk=n.pk)
            if not again and n.expires_at is not None and now >= n.expires_at:
                # its first send may have arrived; a second one now would be late
                step = expiry_step(n, now, check="sweeper")
                step["reason"] = f"its first send's outcome is unknown and {step['reason']}"
                status_move(
                    row,
                    to=Status.EXPIRED,
                    sources=[Status.UNKNOWN],
                    now=now,
                    step=step,
                    trace=n.decision_trace,
                    error_code="expired",
                )
                expired += 1
            elif again:
                reason = "no callback settled it after a second unknown send"
                step = trace_step("sweeper", "fail", reason)
                status_move(
                    row,
                    to=Status.FAILED,
                    sources=[Status.UNKNOWN],
                    now=now,
                    step=step,
                    trace=n.decision_trace,
                    error_code="unknown",
                )
                failed += 1
            else:
                reason = "no callback settled the unknown send: sending once more (at most one duplicate)"
                step = trace_step("sweeper", "resend", reason)
                status_move(
                    row,
                    to=Status.QUEUED,
                    sources=[Status.UNKNOWN],
                    now=now,
                    step=step,
                    trace=n.decision_trace,
                    send_at=now,
                )
                queues.add(n.queue)
                requeued += 1
    return requeued, failed, expired
