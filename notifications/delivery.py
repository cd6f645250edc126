"""Writes on the worker side: claim rows, send them, record what happened, recover what was abandoned.

The guarantees, and where each is kept:

* Claim before send. `notifications_claim` moves a batch of ready rows from `queued` to `sending` in one
  transaction (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's IMMEDIATE transactions
  serialise claimers), stamping them with this drain's claim token and a lease. Two workers never hold
  the same row.
* Record each send before the next. After every provider call, the outcome (status, provider id,
  attempt row, cost row) commits at once, guarded by the claim token. A worker killed mid-batch has
  at most the one in-flight message unrecorded, so a recovered batch re-sends at most one message per
  worker process.
* Give back what you cannot finish. A drain stops at its time budget and returns its unsent claims to
  `queued`, so a long batch never outlives its lease and higher tiers get the worker back quickly.
* Recover what was abandoned. `sweep` re-queues rows whose lease expired (their worker died) and re-kicks
  queues whose rows sit untouched (their wake-up was lost); a row claimed too often without finishing is
  failed as poison instead of looping.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from analytics.services import cost_entry_build
from templates_app.rendering import RenderError, build_context, render_message
from templates_app.segments import sms_segments
from templates_app.selectors import template_for

from .channels.base import DeliveryError, OutboundMessage, PermanentError, SendResult
from .channels.registry import provider_for
from .constants import Channel, Status
from .models import DeliveryAttempt, Notification
from .queueing import kick, kick_on_commit
from .recording import SuccessRecord, success_record
from .selectors import notifications_due, notifications_with_expired_lease, queues_with_stale_rows

logger = logging.getLogger(__name__)


def _conf(name: str):
    return settings.COMMHUB[name]


def _trace(check: str, outcome: str, reason: str) -> dict[str, str]:
    return {"check": check, "outcome": outcome, "reason": reason}


@dataclass
class DrainResult:
    queue: str
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0  # rows whose claim another worker took over while we were sending (logged)
    failed_ids: list[str] = field(default_factory=list)

    @property
    def more_may_wait(self) -> bool:
        return self.released > 0 or self.claimed >= _conf("DRAIN_BATCH_SIZE")


# --- claim --------------------------------------------------------------------------------------------


def notifications_claim(*, queue: str, limit: int, token: uuid.UUID, now: datetime) -> list[Notification]:
    """Atomically take up to `limit` ready rows of `queue` for this drain (status -> sending)."""
    lease_until = now + timedelta(seconds=_conf("LEASE_SECONDS"))
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(queue=queue, status=Status.QUEUED, send_at__lte=now)
            .order_by("priority", "send_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Notification.objects.filter(pk__in=ids, status=Status.QUEUED).update(
            status=Status.SENDING,
            claim_token=token,
            lease_expires_at=lease_until,
            claims=F("claims") + 1,
            updated_at=now,
        )
    return list(
        Notification.objects.filter(claim_token=token, status=Status.SENDING)
        .select_related("recipient", "notification_type", "template")
        .order_by("priority", "send_at")
    )


def _release(rows: list[Notification], token: uuid.UUID) -> int:
    """Give unsent claims back to the queue (they were never sent, so the claim does not count)."""
    if not rows:
        return 0
    return Notification.objects.filter(pk__in=[n.pk for n in rows], claim_token=token, status=Status.SENDING).update(
        status=Status.QUEUED,
        claim_token=None,
        lease_expires_at=None,
        claims=F("claims") - 1,
        updated_at=timezone.now(),
    )


# --- drain --------------------------------------------------------------------------------------------


def queue_drain(
    *, queue: str, batch_size: int | None = None, time_budget: float | None = None, threads: int | None = None
) -> DrainResult:
    """Claim one batch of `queue` and send it with `threads` senders, each recording every message it sends
    before taking the next (so at most `threads` sends are ever unrecorded)."""
    batch_size = batch_size or _conf("DRAIN_BATCH_SIZE")
    time_budget = _conf("DRAIN_TIME_BUDGET_SECONDS") if time_budget is None else time_budget
    threads = max(1, threads or _conf("DRAIN_THREADS"))
    token = uuid.uuid4()
    result = DrainResult(queue=queue)
    rows = notifications_claim(queue=queue, limit=batch_size, token=token, now=timezone.now())
    result.claimed = len(rows)
    if not rows:
        return result
    deadline = time.monotonic() + time_budget
    waiting = collections.deque(rows)
    lock = threading.Lock()

    def take() -> Notification | None:
        with lock:
            if not waiting or time.monotonic() > deadline:
                return None
            return waiting.popleft()

    def send_until_done() -> None:
        while (notification := take()) is not None:
            provider = provider_for(notification.channel)
            provider.open()  # idempotent: keeps the thread's keep-alive session across batches
            outcome = notification_deliver(notification, provider=provider, token=token)
            with lock:
                _tally(result, notification, outcome)

    try:
        if threads == 1 or len(rows) == 1:
            send_until_done()
        else:
            futures = [
                _sender_pool().submit(_with_fresh_connection, send_until_done) for _ in range(min(threads, len(rows)))
            ]
            for future in futures:
                future.result()
    finally:
        result.released = _release(list(waiting), token)
    return result


def _tally(result: DrainResult, notification: Notification, outcome: str) -> None:
    if outcome == Status.SENT:
        result.sent += 1
    elif outcome == Status.PENDING:
        result.retrying += 1
    elif outcome == Status.FAILED:
        result.failed += 1
        result.failed_ids.append(str(notification.pk))
    else:
        result.lost += 1


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _sender_pool() -> ThreadPoolExecutor:
    """One pool per process, created after fork (a pool inherited from a Celery parent has no threads)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=_conf("DRAIN_THREADS"), thread_name_prefix="sender"))
    return _pool[1]


def _with_fresh_connection(fn) -> None:
    # Pool threads keep their database connection between batches (CONN_MAX_AGE); drop it if it broke.
    close_old_connections()
    fn()


def _outbound(notification: Notification) -> OutboundMessage:
    """Render the notification's template for its recipient, as of now."""
    template = notification.template or template_for(
        notification_type_id=notification.notification_type_id, channel=notification.channel
    )
    if template is None:
        raise PermanentError(
            f"{notification.notification_type.key} has no {notification.channel} template", code="no_template"
        )
    to = notification.recipient.address_for(notification.channel)
    if not to:
        raise PermanentError(f"recipient has no {notification.channel} address any more", code="unreachable")
    try:
        rendered = render_message(
            subject=template.subject if notification.channel == Channel.EMAIL else "",
            body=template.body,
            html=template.html if notification.channel == Channel.EMAIL else "",
            context=build_context(data=notification.data, recipient=notification.recipient),
        )
    except RenderError as exc:
        raise PermanentError(str(exc), code="render_error") from exc
    notification.template = template
    notification.to_address = to
    notification.rendered_subject = rendered.subject[:998]
    notification.rendered_body = rendered.body
    notification.rendered_html = rendered.html
    return OutboundMessage(
        notification_id=str(notification.pk),
        channel=notification.channel,
        to=to,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
    )


def notification_deliver(notification: Notification, *, provider, token: uuid.UUID) -> str:
    """Send one claimed notification and record the outcome. Returns the status it ended in."""
    started = timezone.now()
    t0 = time.perf_counter()
    try:
        message = _outbound(notification)
    except PermanentError as exc:  # nothing reached the provider: no attempt is spent
        return _record_failure(notification, provider.name, exc, token, started, 0, called_provider=False)
    try:
        result = provider.send(message)
    except DeliveryError as exc:
        duration_ms = int((time.perf_counter() - t0) * 1000)
        return _record_failure(notification, provider.name, exc, token, started, duration_ms, called_provider=True)
    duration_ms = int((time.perf_counter() - t0) * 1000)
    return _record_success(notification, provider.name, result, token, started, duration_ms)


def _record_success(notification, provider_name, result: SendResult, token, started, duration_ms) -> str:
    now = timezone.now()
    segments = result.segments
    if segments is None and notification.channel == Channel.SMS:
        segments = sms_segments(notification.rendered_body)
    entry = cost_entry_build(notification=notification, provider=provider_name, segments=segments)
    if entry is not None and result.price is not None:  # the provider's own bill beats our price table
        entry.amount, entry.is_estimate = result.price, False
        entry.currency = result.currency or entry.currency
    owned = success_record(
        SuccessRecord(
            notification=notification,
            token=token,
            provider=provider_name,
            provider_message_id=result.provider_message_id,
            attempt_number=notification.attempts + 1,
            segments=segments,
            cost=entry,
            started_at=started,
            duration_ms=duration_ms,
            now=now,
        )
    )
    if not owned:
        logger.warning(
            "notification %s was sent (provider id %s) after its claim was taken over: possible duplicate",
            notification.pk,
            result.provider_message_id,
        )
        return "lost"
    return Status.SENT


def backoff_seconds(*, base: int, attempt: int) -> float:
    """Exponential backoff with +/-20% jitter: base, 2*base, 4*base, ... for attempts 1, 2, 3, ..."""
    return base * (2 ** max(0, attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def _record_failure(
    notification, provider_name, error: DeliveryError, token, started, duration_ms, called_provider
) -> str:
    now = timezone.now()
    attempt_number = notification.attempts + (1 if called_provider else 0)
    exhausted = attempt_number >= notification.max_attempts
    retry = error.transient and not exhausted
    if retry:
        delay = backoff_seconds(base=notification.notification_type.retry_base_delay, attempt=attempt_number)
        update = {"status": Status.PENDING, "send_at": now + timedelta(seconds=delay)}
        reason = (
            f"attempt {attempt_number} of {notification.max_attempts} failed ({error.message}); retry in {delay:.0f}s"
        )
    else:
        update = {"status": Status.FAILED, "failed_at": now}
        why = "retries exhausted" if error.transient else "permanent error"
        reason = f"{why} after attempt {attempt_number}: {error.message}"
    with transaction.atomic():
        owned = Notification.objects.filter(pk=notification.pk, claim_token=token, status=Status.SENDING).update(
            **update,
            attempts=attempt_number,
            provider=provider_name,
            last_error=error.message[:2000],
            error_code=error.code[:64],
            claim_token=None,
            lease_expires_at=None,
            decision_trace=[
                *notification.decision_trace,
                _trace("delivery", "retry" if retry else "fail", reason),
            ],
            updated_at=now,
        )
        if called_provider:
            DeliveryAttempt.objects.create(
                notification=notification,
                number=attempt_number,
                provider=provider_name,
                outcome=DeliveryAttempt.Outcome.TRANSIENT if error.transient else DeliveryAttempt.Outcome.PERMANENT,
                error_code=error.code[:64],
                error_message=error.message[:2000],
                started_at=started,
                duration_ms=duration_ms,
            )
        if owned and not retry:
            fallback_create(notification=notification, reason=error.message)
    if not owned:
        logger.warning("notification %s failed after its claim was taken over; outcome not recorded", notification.pk)
        return "lost"
    if retry:
        logger.info("notification %s: %s", notification.pk, reason)
        if delay <= _conf("RETRY_COUNTDOWN_MAX_SECONDS"):
            transaction.on_commit(lambda: _schedule_retry_wakeup(notification.pk, notification.queue, delay))
        return Status.PENDING
    logger.warning("notification %s failed: %s", notification.pk, reason)
    return Status.FAILED


def _schedule_retry_wakeup(notification_id, queue: str, delay: float) -> None:
    from .tasks import promote_due

    try:
        promote_due.apply_async(args=[str(notification_id)], queue=queue, countdown=delay)
    except Exception:
        logger.warning(
            "could not schedule the retry wake-up of %s; the dispatcher will", notification_id, exc_info=True
        )


# --- fallback -----------------------------------------------------------------------------------------


def fallback_create(*, notification: Notification, reason: str) -> Notification | None:
    """Queue the same message on the type's fallback channel after the primary failed for good.

    Only a primary notification falls back (no chains), only once, and only when the recipient can be
    reached on the fallback channel and a template exists for it.
    """
    ntype = notification.notification_type
    channel = ntype.fallback_channel
    if not channel or channel == notification.channel or notification.fallback_of_id:
        return None
    if not ntype.allows(channel) or Notification.objects.filter(fallback_of=notification).exists():
        return None
    to = notification.recipient.address_for(channel)
    template = template_for(notification_type_id=ntype.pk, channel=channel)
    if not to or template is None:
        logger.info("notification %s: no fallback (%s)", notification.pk, "no address" if not to else "no template")
        return None
    now = timezone.now()
    fallback = Notification.objects.create(
        recipient=notification.recipient,
        notification_type=ntype,
        channel=channel,
        priority=notification.priority,
        queue=Notification.queue_for(channel, ntype.tier, notification.priority),
        status=Status.QUEUED,
        data=notification.data,
        decision_trace=[_trace("fallback", "pass", f"{notification.channel} failed ({reason}); trying {channel}")],
        template=template,
        to_address=to,
        send_at=now,
        max_attempts=ntype.max_retries + 1,
        fallback_of=notification,
        submitted_by_id=notification.submitted_by_id,
        created_at=now,
    )
    kick_on_commit([fallback.queue])
    return fallback


# --- recovery -----------------------------------------------------------------------------------------


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
            Notification.objects.filter(
                pk__in=[pk for pk, _ in rows], status__in=[Status.SCHEDULED, Status.PENDING]
            ).update(status=Status.QUEUED, updated_at=now)
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


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Recover rows abandoned by dead workers and queues whose wake-ups were lost."""
    now = now or timezone.now()
    result = SweepResult()
    max_claims = _conf("MAX_CLAIMS")
    queues: set[str] = set()
    with transaction.atomic():
        expired = list(
            notifications_with_expired_lease(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("notification_type", "recipient")[:5000]
        )
        for notification in expired:
            if notification.claims >= max(max_claims, notification.max_attempts + 1):
                reason = f"abandoned by a worker {notification.claims} times (poison message?)"
                Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
                    status=Status.FAILED,
                    failed_at=now,
                    claim_token=None,
                    lease_expires_at=None,
                    last_error=reason,
                    error_code="poison",
                    decision_trace=[*notification.decision_trace, _trace("sweeper", "fail", reason)],
                    updated_at=now,
                )
                fallback_create(notification=notification, reason=reason)
                result.poisoned += 1
            else:
                Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
                    status=Status.QUEUED,
                    claim_token=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                queues.add(notification.queue)
                result.requeued += 1
    stale_before = now - timedelta(seconds=_conf("STALE_QUEUED_SECONDS"))
    queues.update(queues_with_stale_rows(older_than=stale_before))
    for queue in sorted(queues):
        kick(queue)
    result.rekicked_queues = sorted(queues)
    if result.requeued or result.poisoned:
        logger.warning("sweeper: %d expired leases re-queued, %d poison rows failed", result.requeued, result.poisoned)
    return result
