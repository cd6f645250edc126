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

from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import escape

from analytics.services import cost_line_for
from commhub.conf import knobs
from commhub.logs import notification_context
from preferences.constants import MARKETING
from preferences.models import Recipient
from preferences.services import sms_opt_out
from preferences.unsubscribe import list_unsubscribe_headers, unsubscribe_token, unsubscribe_url
from templates_app.rendering import RenderError, build_context, render_version
from templates_app.segments import sms_segments
from templates_app.selectors import layout_for, template_for, version_by_id

from .channels.base import DeliveryError, OutboundMessage, PermanentError, SendResult
from .channels.registry import provider_for
from .constants import DELIVERY_QUEUES, PRIORITY_BY_NAME, Channel, Status
from .decision import recheck_before_send
from .idempotency import idempotency_keys_purge
from .models import DeliveryAttempt, Notification
from .queueing import kick, kick_on_commit
from .ratelimit import Throttled, type_rate
from .recording import GroupRecorder, SuccessRecord, success_record
from .selectors import (
    notification_type_by_id,
    notifications_due,
    notifications_with_expired_lease,
    queues_with_stale_rows,
)
from .trace import trace_step

logger = logging.getLogger(__name__)

TWILIO_OPTED_OUT = "twilio_21610"  # "Attempt to send to unsubscribed recipient"


@dataclass
class DrainResult:
    queue: str
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    suppressed: int = 0  # refused by the re-check just before sending (e.g. a STOP while it waited)
    released: int = 0
    lost: int = 0  # rows whose claim another worker took over while we were sending (logged)
    yielded: bool = False  # stopped early because a more urgent queue had work
    urgent_queues: list[str] = field(default_factory=list)  # the queues it yielded to
    queue_empty: bool = False  # a claim found fewer ready rows than it asked for
    throttled: int = 0  # rows put back because a rate limit had no room (they wait; nothing failed)
    sender_blocked: bool = False  # stopped because no sender of the channel had room
    wake_in: float | None = None  # seconds until the earliest limit that held rows back has room again

    @property
    def more_may_wait(self) -> bool:
        """Stopped for a reason other than an empty queue (time budget, limit, yield): wake it again now.
        (Rows held back by a rate limit are woken after `wake_in` instead.)"""
        if self.sender_blocked:
            return False
        return self.released > 0 or self.yielded or not self.queue_empty

    def throttled_for(self, wait: float) -> None:
        self.throttled += 1
        self.wake_in = wait if self.wake_in is None else min(self.wake_in, wait)


# --- claim --------------------------------------------------------------------------------------------


# What a send needs of a claimed row (the rest is deferred: rendered text, timestamps, provider fields).
_CLAIM_FIELDS = [
    "id",
    "recipient",
    "notification_type",
    "channel",
    "priority",
    "queue",
    "status",
    "data",
    "decision_trace",
    "template",
    "template_version",
    "send_at",
    "attempts",
    "max_attempts",
    "claims",
    "claim_token",
    "currency",
    "fallback_of",
    "submitted_by",
]


def notifications_claim(
    *, queue: str, limit: int, token: uuid.UUID, now: datetime, exclude_types: frozenset[int] = frozenset()
) -> list[Notification]:
    """Atomically take up to `limit` ready rows of `queue` for this drain (status -> sending), most urgent
    first, with their recipients and (from the snapshots) types and templates attached. Rows of
    `exclude_types` (types whose rate limit has no room now) are left for later."""
    lease_until = now + timedelta(seconds=knobs().lease_seconds)
    kwargs = {"queue": queue, "limit": limit, "token": token, "now": now, "lease_until": lease_until}
    if connection.vendor == "postgresql":
        rows = _claim_postgresql(**kwargs, exclude_types=sorted(exclude_types))
    else:
        rows = _claim_orm(**kwargs, exclude_types=exclude_types)
    rows.sort(key=lambda n: (n.priority, n.send_at))
    recipients = Recipient.objects.in_bulk({n.recipient_id for n in rows})
    for n in rows:
        n.recipient = recipients[n.recipient_id]
    _attach_catalogue(rows)
    return rows


def _claim_postgresql(*, queue, limit, token, now, lease_until, exclude_types) -> list[Notification]:
    """One statement: lock the next ready rows (SKIP LOCKED), flip them to sending, return what a send needs.

    The locking SELECT is a MATERIALIZED CTE joined by the UPDATE: inside `WHERE id IN (subquery)` the
    planner may run a LIMIT ... FOR UPDATE subquery more than once and claim more rows than the limit.
    """
    table = Notification._meta.db_table
    returning = ", ".join(f'n."{Notification._meta.get_field(f).column}"' for f in _CLAIM_FIELDS)
    type_filter = 'AND NOT ("notification_type_id" = ANY(%s)) ' if exclude_types else ""
    sql = (
        f'WITH picked AS MATERIALIZED (SELECT "id" FROM "{table}" '  # noqa: S608
        'WHERE "queue" = %s AND "status" = %s AND "send_at" <= %s '
        f"{type_filter}"
        'ORDER BY "priority", "send_at" LIMIT %s FOR UPDATE SKIP LOCKED) '
        f'UPDATE "{table}" AS n SET "status" = %s, "claim_token" = %s, "lease_expires_at" = %s, '
        '"claims" = n."claims" + 1, "updated_at" = %s FROM picked '
        f'WHERE n."id" = picked."id" AND n."status" = %s RETURNING {returning}'
    )
    params = [queue, Status.QUEUED, now, *([exclude_types] if exclude_types else []), limit]
    params += [Status.SENDING, token, lease_until, now, Status.QUEUED]
    return list(Notification.objects.raw(sql, params))


def _claim_orm(*, queue, limit, token, now, lease_until, exclude_types) -> list[Notification]:
    """Portable claim: SQLite's IMMEDIATE transaction holds the write lock, so select-then-update is atomic."""
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(queue=queue, status=Status.QUEUED, send_at__lte=now)
            .exclude(notification_type_id__in=exclude_types)
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
    return list(Notification.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).only(*_CLAIM_FIELDS))


def _attach_catalogue(rows: list[Notification]) -> None:
    """Types and template versions come from the in-process snapshots (published versions never change): no
    join, no model building per row."""
    for n in rows:
        ntype = notification_type_by_id(n.notification_type_id)
        version = version_by_id(n.template_version_id) if n.template_version_id else None
        if ntype is None:  # created moments ago in another process
            n.refresh_from_db(fields=["notification_type"])
        else:
            n.notification_type = ntype
        if version is not None:
            n.template_version = version


def _back_to_queue(**extra) -> dict:
    """The fields that give an unsent claim back to the queue (it was never sent, so the claim does not count)."""
    return {
        "status": Status.QUEUED,
        "claim_token": None,
        "lease_expires_at": None,
        "claims": F("claims") - 1,
        "updated_at": timezone.now(),
        **extra,
    }


def _release(rows: list[Notification], token: uuid.UUID) -> int:
    """Give unsent claims back to the queue."""
    if not rows:
        return 0
    claimed = Notification.objects.filter(pk__in=[n.pk for n in rows], claim_token=token, status=Status.SENDING)
    return claimed.update(**_back_to_queue())


def _hold_back(rows: list[Notification], token: uuid.UUID, exc: Throttled) -> int:
    """Give claims back because a rate limit has no room; each row's trace says so (once per wait)."""
    fresh = [n for n in rows if not n.decision_trace or n.decision_trace[-1].get("check") != "rate limit"]
    step = trace_step("rate limit", "wait", f"{exc.rate.label} reached: waiting for room, not failing")
    held = 0
    for n in fresh:
        held += Notification.objects.filter(pk=n.pk, claim_token=token, status=Status.SENDING).update(
            **_back_to_queue(decision_trace=[*n.decision_trace, step])
        )
    fresh_ids = {n.pk for n in fresh}
    return held + _release([n for n in rows if n.pk not in fresh_ids], token)


# --- drain --------------------------------------------------------------------------------------------


def queue_drain(
    *,
    queue: str,
    batch_size: int | None = None,
    time_budget: float | None = None,
    threads: int | None = None,
    limit: int | None = None,
) -> DrainResult:
    """Send from `queue` until it is empty, the time budget is spent, `limit` rows were taken, or a more
    urgent queue has ready rows (then it stops so the worker can serve that queue first).

    `threads` senders pull from a shared buffer that is topped up by claiming `batch_size` rows at a time
    whenever it runs low, so no sender idles at a batch boundary. Each sender records every message it
    sends before taking the next: at most `threads` sends are ever unrecorded.
    """
    batch_size = batch_size or knobs().drain_batch_size
    time_budget = knobs().drain_time_budget_seconds if time_budget is None else time_budget
    threads = max(1, threads or knobs().drain_threads)
    token = uuid.uuid4()
    result = DrainResult(queue=queue)
    deadline = time.monotonic() + time_budget
    buffer: collections.deque[Notification] = collections.deque()
    lock = threading.Lock()
    state = {"exhausted": False, "stopped": False, "urgency_checked": time.monotonic()}
    blocked_types: set[int] = set()  # types whose rate limit had no room: their rows are left in the queue
    recorder = GroupRecorder(max_wait=knobs().group_commit_wait_ms / 1000)

    def claim_more() -> None:
        """Top up the buffer (called with the lock held)."""
        wanted = batch_size if limit is None else min(batch_size, limit - result.claimed)
        if wanted > 0 and result.claimed:
            result.urgent_queues = _more_urgent_queues_waiting(queue)
        if wanted <= 0 or result.urgent_queues:
            state["exhausted"] = True
            result.yielded = bool(result.urgent_queues)
            return
        rows = notifications_claim(
            queue=queue, limit=wanted, token=token, now=timezone.now(), exclude_types=frozenset(blocked_types)
        )
        result.claimed += len(rows)
        buffer.extend(rows)
        if len(rows) < wanted:
            state["exhausted"] = result.queue_empty = True

    def take() -> Notification | None:
        with lock:
            now = time.monotonic()
            if state["stopped"] or now > deadline:
                state["stopped"] = True
                return None
            if now - state["urgency_checked"] > 1.0 and result.claimed:  # a paced drain empties its buffer slowly
                state["urgency_checked"] = now
                result.urgent_queues = _more_urgent_queues_waiting(queue)
                if result.urgent_queues:
                    state["stopped"] = result.yielded = True
                    return None
            if len(buffer) <= threads and not state["exhausted"]:
                claim_more()
            return buffer.popleft() if buffer else None

    def throttled(notification: Notification, exc: Throttled) -> None:
        """A rate limit had no room (the row is already back in the queue): hold back what it applies to."""
        with lock:
            result.throttled_for(exc.wait)
            if exc.rate.key.startswith("type:"):
                blocked_types.add(notification.notification_type_id)
                held = [n for n in buffer if n.notification_type_id == notification.notification_type_id]
            else:  # no sender of the channel has room: stop, the wake-up comes when one does
                state["stopped"] = result.sender_blocked = True
                held = list(buffer)
            for n in held:
                buffer.remove(n)
            result.throttled += _hold_back(held, token, exc)

    def send_until_done() -> None:
        while (notification := take()) is not None:
            recorder.started()
            try:
                provider = provider_for(notification.channel)
                provider.open()  # idempotent: keeps the thread's keep-alive session across drains
                outcome = notification_deliver(notification, provider=provider, token=token, recorder=recorder)
            except Throttled as exc:
                throttled(notification, exc)
                continue
            except Exception:
                # A bug or an outage while handling one row must not abandon the rest of the drain. The row
                # keeps its claim; the sweeper re-queues it when the lease expires and fails it as poison
                # if it keeps coming back.
                logger.exception("notification %s: unexpected error; left to the sweeper", notification.pk)
                outcome = "lost"
            finally:
                recorder.finished()
            with lock:
                _tally(result, notification, outcome)

    try:
        if threads == 1:
            send_until_done()
        else:
            pool = _sender_pool(threads)
            futures = [pool.submit(_with_fresh_connection, send_until_done) for _ in range(threads)]
            for future in futures:
                future.result()
    finally:
        with lock:
            state["stopped"] = True
            leftovers = list(buffer)
            buffer.clear()
        result.released = _release(leftovers, token)
    return result


# The queues this process's worker consumes (set when a Celery worker starts; None elsewhere, e.g. in
# `drain_queue`, which serves every queue). A drain only yields to more urgent queues it could serve itself:
# a bulk-tier worker has no reason to stop for the critical tier another pool serves.
consumed_queues: frozenset[str] | None = None


def _more_urgent_queues_waiting(queue: str) -> list[str]:
    """The queues this worker should serve before `queue` that have rows ready now."""
    position = DELIVERY_QUEUES.index(queue) if queue in DELIVERY_QUEUES else 0
    more_urgent = [q for q in DELIVERY_QUEUES[:position] if consumed_queues is None or q in consumed_queues]
    if not more_urgent:
        return []
    return list(
        Notification.objects.filter(status=Status.QUEUED, queue__in=more_urgent, send_at__lte=timezone.now())
        .values_list("queue", flat=True)
        .distinct()
    )


def _tally(result: DrainResult, notification: Notification, outcome: str) -> None:
    if outcome == Status.SENT:
        result.sent += 1
    elif outcome == Status.PENDING:
        result.retrying += 1
    elif outcome == Status.FAILED:
        result.failed += 1
    elif outcome == Status.SUPPRESSED:
        result.suppressed += 1
    else:
        result.lost += 1


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _sender_pool(threads: int) -> ThreadPoolExecutor:
    """One pool per process, created after fork (a pool inherited from a Celery parent has no threads), large
    enough for `threads` senders at once."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1]._max_workers < threads:
        if _pool is not None and _pool[0] == os.getpid():
            _pool[1].shutdown(wait=False)
        size = max(threads, knobs().drain_threads)
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=size, thread_name_prefix="sender"))
    return _pool[1]


_sender_connections: list = []  # the database connection of each sender thread, closed at shutdown
_sender_local = threading.local()


def shutdown_sender_pool() -> None:
    """Stop the sender threads and close their database connections (end of tests, worker shutdown)."""
    global _pool
    if _pool is not None and _pool[0] == os.getpid():
        _pool[1].shutdown(wait=True)
        for wrapper in _sender_connections:
            if wrapper.connection is not None:
                wrapper.connection.close()  # the owning thread has exited; close the socket directly
    _sender_connections.clear()
    _pool = None


def _with_fresh_connection(fn) -> None:
    # Pool threads keep their database connection between batches (CONN_MAX_AGE); drop it if it broke.
    close_old_connections()
    if not getattr(_sender_local, "registered", False):
        _sender_connections.append(connections["default"])
        _sender_local.registered = True
    fn()


def _outbound(notification: Notification) -> OutboundMessage:
    """Render the notification's own template version (chosen at submit; frozen) for its recipient, as of now."""
    version = notification.template_version
    if version is None:  # a row from before versions existed: the live version of its slot
        live = template_for(
            notification_type_id=notification.notification_type_id,
            channel=notification.channel,
            locale=notification.recipient.locale,
            default_locale=notification.notification_type.default_locale,
        )
        if live is None:
            raise PermanentError(
                f"{notification.notification_type.key} has no {notification.channel} template", code="no_template"
            )
        version = live.version
        notification.template_id = live.template.pk
    to = notification.recipient.address_for(notification.channel)
    if not to:
        raise PermanentError(f"recipient has no {notification.channel} address any more", code="unreachable")
    context = build_context(data=notification.data, recipient=notification.recipient)
    headers: dict[str, str] = {}
    link = ""
    ntype = notification.notification_type
    if notification.channel == Channel.EMAIL and ntype.purpose == MARKETING:
        # Marketing mail carries one-click unsubscribe (RFC 8058) and a visible link (Gmail/Yahoo rules).
        token = unsubscribe_token(recipient_id=notification.recipient_id, category=ntype.category)
        link = context["unsubscribe_url"] = unsubscribe_url(token)
        headers = list_unsubscribe_headers(token, url=link)
    try:
        rendered = render_version(version, context=context, layout=layout_for(version, notification.channel))
    except RenderError as exc:
        raise PermanentError(str(exc), code="render_error") from exc
    if link:
        rendered = with_unsubscribe_footer(rendered, link=link, category=ntype.category)
    notification.template_version = version
    notification.to_address = to
    notification.rendered_subject = rendered.subject[:998]
    notification.rendered_body = rendered.body
    notification.rendered_html = rendered.html
    limit = type_rate(ntype, notification.channel)
    return OutboundMessage(
        notification_id=str(notification.pk),
        channel=notification.channel,
        to=to,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        headers=headers,
        limits=(limit,) if limit else (),
        critical=notification.priority <= PRIORITY_BY_NAME["critical"],
    )


def with_unsubscribe_footer(rendered, *, link: str, category: str):
    """Add the visible unsubscribe link unless the template already shows it."""
    body, html = rendered.body, rendered.html
    if link not in body:
        body = f"{body.rstrip()}\n\n--\nUnsubscribe from {category} emails: {link}\n"
    if html and link not in html:
        html = (
            f'{html}\n<p style="font-size:12px;color:#666">You receive these {escape(category)} emails because '
            f'you agreed to. <a href="{escape(link)}">Unsubscribe</a></p>'
        )
    return type(rendered)(subject=rendered.subject, body=body, html=html)


def notification_deliver(
    notification: Notification, *, provider, token: uuid.UUID, recorder: GroupRecorder | None = None
) -> str:
    """Send one claimed notification and record the outcome. Returns the status it ended in. Every log line
    written meanwhile (here, in the provider chain, in anymail or Twilio's client) carries its id."""
    with notification_context(notification.pk):
        return _deliver(notification, provider=provider, token=token, recorder=recorder)


def _deliver(notification: Notification, *, provider, token: uuid.UUID, recorder: GroupRecorder | None) -> str:
    started = timezone.now()
    t0 = time.perf_counter()
    refusal = recheck_before_send(notification)
    if refusal is not None:
        return _record_suppressed(notification, refusal, token)
    try:
        message = _outbound(notification)
    except PermanentError as exc:  # nothing reached the provider: no attempt is spent
        return _record_failure(notification, provider.name, exc, token, started, 0, called_provider=False)
    try:
        result = _send_within_limits(provider, message)
    except Throttled as exc:
        _hold_back([notification], token, exc)
        raise
    except DeliveryError as exc:
        duration_ms = int((time.perf_counter() - t0) * 1000)
        return _record_failure(notification, provider.name, exc, token, started, duration_ms, called_provider=True)
    duration_ms = int((time.perf_counter() - t0) * 1000)
    return _record_success(
        notification, result.provider or provider.name, result, token, started, duration_ms, recorder
    )


def _send_within_limits(provider, message: OutboundMessage) -> SendResult:
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


def _record_success(
    notification, provider_name, result: SendResult, token, started, duration_ms, recorder: GroupRecorder | None
) -> str:
    now = timezone.now()
    segments = result.segments
    if segments is None and notification.channel == Channel.SMS:
        segments = sms_segments(notification.rendered_body)
    entry = cost_line_for(
        channel=notification.channel, provider=provider_name, segments=segments, to=notification.to_address, at=now
    )
    if entry is not None and result.price is not None:  # the provider's own bill beats our price table
        entry.amount, entry.is_estimate = result.price, False
        entry.currency = result.currency or entry.currency
    record = recorder.record if recorder is not None else success_record
    owned = record(
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


def _settle_claim(notification: Notification, token: uuid.UUID, *, now, **fields) -> bool:
    """End this drain's claim on the row with `fields`, if it still holds it. Returns whether it did."""
    return bool(
        Notification.objects.filter(pk=notification.pk, claim_token=token, status=Status.SENDING).update(
            claim_token=None, lease_expires_at=None, updated_at=now, **fields
        )
    )


def _write_attempt(notification, *, number, provider_name, outcome, error: DeliveryError, started, duration_ms):
    DeliveryAttempt.objects.create(
        notification=notification,
        number=number,
        provider=provider_name,
        outcome=outcome,
        error_code=error.code[:64],
        error_message=error.message[:2000],
        started_at=started,
        duration_ms=duration_ms,
    )


def _record_suppressed(notification: Notification, refusal, token: uuid.UUID) -> str:
    """The re-check refused the row just before the provider call: nothing was sent."""
    now = timezone.now()
    with transaction.atomic():
        owned = _settle_claim(
            notification,
            token,
            now=now,
            status=Status.SUPPRESSED,
            last_error=refusal.reason[:2000],
            error_code=refusal.code[:64],
            decision_trace=[
                *notification.decision_trace,
                trace_step(refusal.check, refusal.outcome, f"re-checked before sending: {refusal.reason}"),
            ],
        )
        if owned:
            fallback_create(notification=notification, reason=refusal.reason)
    if not owned:
        return "lost"
    logger.info("notification %s suppressed before sending: %s", notification.pk, refusal.reason)
    return Status.SUPPRESSED


def backoff_seconds(*, base: int, attempt: int) -> float:
    """Exponential backoff with +/-20% jitter: base, 2*base, 4*base, ... for attempts 1, 2, 3, ..."""
    return base * (2 ** max(0, attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def _record_failure(
    notification, provider_name, error: DeliveryError, token, started, duration_ms, called_provider
) -> str:
    now = timezone.now()
    attempt_number = notification.attempts + (1 if called_provider else 0)
    if error.ambiguous and called_provider:
        return _record_unknown(notification, provider_name, error, token, started, duration_ms, attempt_number)
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
        owned = _settle_claim(
            notification,
            token,
            now=now,
            **update,
            attempts=attempt_number,
            provider=provider_name,
            last_error=error.message[:2000],
            error_code=error.code[:64],
            decision_trace=[
                *notification.decision_trace,
                trace_step("delivery", "retry" if retry else "fail", reason),
            ],
        )
        if called_provider:
            _write_attempt(
                notification,
                number=attempt_number,
                provider_name=provider_name,
                outcome=DeliveryAttempt.Outcome.TRANSIENT if error.transient else DeliveryAttempt.Outcome.PERMANENT,
                error=error,
                started=started,
                duration_ms=duration_ms,
            )
        if owned and not retry:
            fallback_create(notification=notification, reason=error.message)
    if error.code == TWILIO_OPTED_OUT and notification.to_address:
        _record_provider_opt_out(notification)
    if not owned:
        logger.warning("notification %s failed after its claim was taken over; outcome not recorded", notification.pk)
        return "lost"
    if retry:
        logger.info("notification %s: %s", notification.pk, reason)
        if delay <= knobs().retry_countdown_max_seconds:
            transaction.on_commit(lambda: _schedule_retry_wakeup(notification.pk, notification.queue, delay))
        return Status.PENDING
    logger.warning("notification %s failed: %s", notification.pk, reason)
    return Status.FAILED


def _record_unknown(
    notification, provider_name, error: DeliveryError, token, started, duration_ms, attempt_number
) -> str:
    """The request went out and no answer came back: the provider may have sent it. Not retried blindly; the
    row waits as `unknown` for the provider's callback, or for the sweeper (COMMHUB_UNKNOWN_SETTLE_SECONDS)."""
    now = timezone.now()
    reason = f"no answer from {provider_name} after sending ({error.message}); waiting for its callback"
    with transaction.atomic():
        owned = _settle_claim(
            notification,
            token,
            now=now,
            status=Status.UNKNOWN,
            attempts=attempt_number,
            provider=provider_name,
            last_error=error.message[:2000],
            error_code=error.code[:64],
            decision_trace=[*notification.decision_trace, trace_step("delivery", "unknown", reason)],
        )
        _write_attempt(
            notification,
            number=attempt_number,
            provider_name=provider_name,
            outcome=DeliveryAttempt.Outcome.UNKNOWN,
            error=error,
            started=started,
            duration_ms=duration_ms,
        )
    if not owned:
        return "lost"
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
    live = template_for(
        notification_type_id=ntype.pk,
        channel=channel,
        locale=notification.recipient.locale,
        default_locale=ntype.default_locale,
    )
    if not to or live is None:
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
        decision_trace=[trace_step("fallback", "pass", f"{notification.channel} failed ({reason}); trying {channel}")],
        template=live.template,
        template_version=live.version,
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


def _settle_unknown(*, now: datetime, queues: set[str]) -> tuple[int, int]:
    """`unknown` rows no callback settled within COMMHUB_UNKNOWN_SETTLE_SECONDS: the first time, send again (at
    most one duplicate, against never delivering); the second time, fail them for staff to look at."""
    before = now - timedelta(seconds=knobs().unknown_settle_seconds)
    requeued = failed = 0
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.UNKNOWN, updated_at__lt=before)
            .only("pk", "queue", "decision_trace")[:1000]
        )
        for n in rows:
            again = any(step.get("check") == "sweeper" and step.get("outcome") == "resend" for step in n.decision_trace)
            if again:
                reason = "no callback settled it after a second unknown send"
                Notification.objects.filter(pk=n.pk, status=Status.UNKNOWN).update(
                    status=Status.FAILED,
                    failed_at=now,
                    error_code="unknown",
                    decision_trace=[*n.decision_trace, trace_step("sweeper", "fail", reason)],
                    updated_at=now,
                )
                failed += 1
            else:
                reason = "no callback settled the unknown send: sending once more (at most one duplicate)"
                Notification.objects.filter(pk=n.pk, status=Status.UNKNOWN).update(
                    status=Status.QUEUED,
                    send_at=now,
                    decision_trace=[*n.decision_trace, trace_step("sweeper", "resend", reason)],
                    updated_at=now,
                )
                queues.add(n.queue)
                requeued += 1
    return requeued, failed


@dataclass
class SweepResult:
    requeued: int = 0
    poisoned: int = 0
    rekicked_queues: list[str] = field(default_factory=list)
    expired_keys: int = 0
    unknown_requeued: int = 0
    unknown_failed: int = 0


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Recover rows abandoned by dead workers and queues whose wake-ups were lost."""
    now = now or timezone.now()
    result = SweepResult()
    max_claims = knobs().max_claims
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
                    decision_trace=[*notification.decision_trace, trace_step("sweeper", "fail", reason)],
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
    result.unknown_requeued, result.unknown_failed = _settle_unknown(now=now, queues=queues)
    stale_before = now - timedelta(seconds=knobs().stale_queued_seconds)
    queues.update(queues_with_stale_rows(older_than=stale_before))
    for queue in sorted(queues):
        kick(queue)
    result.rekicked_queues = sorted(queues)
    result.expired_keys = idempotency_keys_purge(now=now)
    if result.requeued or result.poisoned:
        logger.warning("sweeper: %d expired leases re-queued, %d poison rows failed", result.requeued, result.poisoned)
    return result
