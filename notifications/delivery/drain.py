"""Drain: send from one queue until it is empty, the time budget is spent, a limit is reached, or a more urgent
queue has ready rows (then stop so the worker serves that queue first).

Sender threads pull from a shared buffer that is topped up by claiming `batch_size` rows whenever it runs low,
so no sender idles at a batch boundary. Successes are written together (write_behind.WriteBehind: at most
2 x COMMHUB_RECORD_BATCH of them and the sends in flight are ever unrecorded); failures before the sender
takes another row. A drain that stops writes what waits, then gives its unsent claims back to the queue, so a
long batch never outlives its lease.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from commhub.conf import knobs
from commhub.queues import delivery_queues
from notifications.channels.failover import FailoverProvider
from notifications.channels.providers import provider_for
from notifications.constants import Status
from notifications.decision import recheck_many_before_send
from notifications.models import Notification
from notifications.ratelimit import Throttled

from .batch import GroupOutcome, batch_key, group_deliver, group_from_buffer
from .claim import give_back, give_back_all, hold_back, notifications_claim
from .group_commit import SuccessRecord
from .outcomes import lost
from .result import DrainResult
from .send import Precheck, notification_deliver
from .senders import drop_connection, sender_pool, with_fresh_connection
from .write_behind import DatabaseLost, WriteBehind

logger = logging.getLogger(__name__)

# The queues this process's worker consumes (set when a Celery worker starts; None elsewhere, e.g. in
# `drain_queue`, which serves every queue). A drain only yields to more urgent queues it could serve itself:
# a bulk-tier worker has no reason to stop for the critical tier another pool serves.
consumed_queues: frozenset[str] | None = None

URGENCY_CHECK_SECONDS = 0.25  # how often a draining sender looks for ready rows in more urgent queues
# ESP batches one drain (one process) works on at once: two overlap one call's round trip with the next group's
# rendering; more only contend for the interpreter and hold more rows, and a yield to a more urgent queue
# waits for every group in flight.
GROUPS_IN_FLIGHT = 2


def queue_drain(
    *,
    queue: str,
    batch_size: int | None = None,
    time_budget: float | None = None,
    threads: int | None = None,
    limit: int | None = None,
) -> DrainResult:
    """Send from `queue` until it is empty, the time budget is spent, `limit` rows were taken, or a more
    urgent queue has ready rows. See the module docstring."""
    conf = knobs()
    drain = _Drain(
        queue=queue,
        batch_size=batch_size or conf.drain_batch_size,
        deadline=time.monotonic() + (conf.drain_time_budget_seconds if time_budget is None else time_budget),
        threads=max(1, threads or conf.drain_threads),
        limit=limit,
    )
    return drain.run()


def more_urgent_queues_waiting(queue: str) -> list[str]:
    """The queues this worker should serve before `queue` that have rows ready now."""
    ordered = delivery_queues()
    position = ordered.index(queue) if queue in ordered else 0
    more_urgent = [q for q in ordered[:position] if consumed_queues is None or q in consumed_queues]
    if not more_urgent:
        return []
    return list(
        Notification.objects.filter(status=Status.QUEUED, queue__in=more_urgent, send_at__lte=timezone.now())
        .values_list("queue", flat=True)
        .distinct()
    )


class _Drain:
    """One drain's state, shared by its sender threads under `lock`."""

    def __init__(self, *, queue: str, batch_size: int, deadline: float, threads: int, limit: int | None) -> None:
        self.queue, self.batch_size, self.threads, self.limit = queue, batch_size, threads, limit
        self.deadline = deadline
        self.token = uuid.uuid4()
        self.result = DrainResult(queue=queue)
        self.buffer: collections.deque[Notification] = collections.deque()
        self.lock = threading.Lock()
        self.exhausted = False  # nothing more to claim (empty queue, limit reached, or yielding)
        self.stopped = False  # no sender takes another row
        self.urgency_checked = time.monotonic()
        self.blocked_types: set[int] = set()  # types whose rate limit had no room: their rows stay queued
        conf = knobs()
        self.recorder = WriteBehind(batch=conf.record_batch, max_age=conf.record_wait_ms / 1000, written=self.recorded)
        # Claims grow to an ESP batch only once this drain has formed a batch: a queue whose rows go one by one
        # (one address, no batch form) keeps small claims, so a crash holds few rows for a lease.
        self.batching = False
        self.groups_in_flight = 0
        self.one_by_one: set[Any] = set()  # rows a group handed back: never grouped again in this drain
        self.prechecks: dict[Any, Precheck] = {}  # row id -> its claimed batch's re-check (send.py)

    def run(self) -> DrainResult:
        try:
            if self.threads == 1:
                self.send_until_done()
            else:
                pool = sender_pool(self.threads)
                futures = [pool.submit(with_fresh_connection, self.send_until_done) for _ in range(self.threads)]
                for future in futures:
                    future.result()
        finally:
            with self.lock:
                self.stopped = True
                leftovers = list(self.buffer)
                self.buffer.clear()
            self.write_recorded(self.recorder.flush)
            self.result.released += self._give_back(leftovers)
            if self.result.database_lost:  # every sender has stopped: what the token still holds was never sent
                self.result.released += self._give_back(None)
        return self.result

    def _give_back(self, rows: list[Notification] | None) -> int:
        """Give claims back now rather than at the end of their lease (None: all this drain holds); with a broken
        connection, on a new one."""
        for attempt in (1, 2):
            try:
                return give_back_all(self.token) if rows is None else give_back(rows, self.token)
            except DatabaseError:
                drop_connection()
                if attempt == 2:
                    logger.warning("drain %s: claims left to the sweeper (database unreachable)", self.token)
        return 0

    def recorded(self, records: list[SuccessRecord], owned: list[bool]) -> None:
        """A batch of successes was written: count them (a claim taken over meanwhile is a possible duplicate)."""
        outcomes = [Status.SENT if ok else lost(record) for record, ok in zip(records, owned, strict=True)]
        with self.lock:
            for outcome in outcomes:
                self.result.tally(outcome)

    def write_recorded(self, write: Callable[[], None]) -> bool:
        """Run the recorder's `write` (due or flush); False when the database broke (the rows went back)."""
        try:
            write()
        except DatabaseLost as exc:
            logger.warning("%d sends could not be recorded: the drain stops and gives the rows back", len(exc.records))
            self.database_lost([r.notification for r in exc.records])
            return False
        return True

    def send_until_done(self) -> None:
        while self.write_recorded(self.recorder.due) and (rows := self.take()) is not None:
            if len(rows) == 1:
                self.send_one(rows[0])
                continue
            try:
                group = self.send_group(rows)
            finally:
                with self.lock:
                    self.groups_in_flight -= 1
            with self.lock:
                for outcome in group.outcomes:
                    self.result.tally(outcome)
                if group.one_by_one:  # back to the shared buffer, for every sender thread to take one by one
                    self.one_by_one.update(n.pk for n in group.one_by_one)
                    self.buffer.extendleft(reversed(group.one_by_one))

    def send_group(self, rows: list[Notification]) -> GroupOutcome:
        """One ESP batch (batch.py and its forms); what happens to rows it does not settle is in the outcome."""
        nothing = GroupOutcome(outcomes=[], one_by_one=[])
        if self.stopped:  # a more urgent queue, the time budget: the group goes back untouched
            self.result.released += self._give_back(rows)
            return nothing
        chain = provider_for(rows[0].channel)
        assert isinstance(chain, FailoverProvider)  # batch_key admits only rows of a failover chain
        try:
            return group_deliver(rows, chain=chain, token=self.token)
        except DatabaseError:
            logger.warning("a batch of %d: database error; the drain stops and gives its rows back", len(rows))
            self.database_lost(rows)
            return nothing
        except Exception:
            logger.exception("a batch of %d: unexpected error; left to the sweeper", len(rows))
            return GroupOutcome(outcomes=["lost"] * len(rows), one_by_one=[])

    def send_one(self, notification: Notification) -> None:
        try:
            provider = provider_for(notification.channel)
            provider.open()  # idempotent: keeps the thread's keep-alive session across drains
            with self.lock:
                precheck = self.prechecks.pop(notification.pk, None)
            outcome = notification_deliver(
                notification, provider=provider, token=self.token, recorder=self.recorder, precheck=precheck
            )
        except Throttled as exc:
            self.throttled(notification, exc)
            return
        except DatabaseError as exc:
            # The connection broke (a restart, a failover, a terminated backend): every row after this one
            # would fail the same way before reaching a provider. Stop the drain, give the claims back on a
            # new connection and let the next wake-up start afresh, rather than hold them for a lease (with the
            # sent rows whose records could not be written: they are sent again, within the crash bound).
            logger.warning("notification %s: database error; the drain stops and gives its rows back", notification.pk)
            unrecorded = [r.notification for r in exc.records] if isinstance(exc, DatabaseLost) else []
            self.database_lost([notification, *(n for n in unrecorded if n.pk != notification.pk)])
            outcome = "released"
        except Exception:
            # A bug or an outage while handling one row must not abandon the rest of the drain. The row
            # keeps its claim; the sweeper re-queues it when the lease expires and fails it as poison
            # if it keeps coming back.
            logger.exception("notification %s: unexpected error; left to the sweeper", notification.pk)
            outcome = "lost"
        with self.lock:
            self.result.tally(outcome)

    def take(self) -> list[Notification] | None:
        """The next row to send, or every buffered row of its ESP batch; None when the drain stops (claiming more
        when the buffer runs low)."""
        with self.lock:
            now = time.monotonic()
            if self.stopped or now > self.deadline:
                self.stopped = True
                return None
            try:
                # a paced drain empties its buffer slowly, and an ESP batch holds a sender for a while: look for
                # more urgent work often (one indexed query), so a critical alert waits for at most one group
                if now - self.urgency_checked > URGENCY_CHECK_SECONDS and self.result.claimed:
                    self.urgency_checked = now
                    self.result.urgent_queues = more_urgent_queues_waiting(self.queue)
                    if self.result.urgent_queues:
                        self.stopped = self.result.yielded = True
                        return None
                if len(self.buffer) <= self.threads and not self.exhausted:
                    self.claim_more()
            except DatabaseError:  # a failover, a terminated backend: stop; run() gives back what this drain holds
                logger.warning("drain of %s: database error while claiming; stopping", self.queue)
                drop_connection()
                self.stopped = self.exhausted = self.result.database_lost = True
                return None
            if not self.buffer:
                return None
            first = self.buffer[0]
            if self.batching and self.groups_in_flight >= GROUPS_IN_FLIGHT and self._batchable(first):
                return None  # enough groups in flight: this sender retires from the drain
            return self.take_group(self.buffer.popleft())

    def _batchable(self, n: Notification) -> bool:
        return n.pk not in self.one_by_one and batch_key(n, provider_for(n.channel)) is not None

    def take_group(self, first: Notification) -> list[Notification]:
        """`first`, and the buffered rows that can share its ESP call (called with the lock held)."""
        rows = [first] if first.pk in self.one_by_one else group_from_buffer(first, self.buffer, self.one_by_one)
        if len(rows) > 1:
            self.batching = True
            self.groups_in_flight += 1
        return rows

    def database_lost(self, rows: list[Notification]) -> None:
        """This sender's connection broke: drop it, stop every sender, give `rows` back on a new connection."""
        drop_connection()
        with self.lock:
            self.stopped = self.result.database_lost = True
        self.result.released += self._give_back(rows)

    def claim_more(self) -> None:
        """Top up the buffer (called with the lock held)."""
        result = self.result
        size = max(self.batch_size, knobs().esp_batch_size) if self.batching else self.batch_size
        wanted = size if self.limit is None else min(size, self.limit - result.claimed)
        if wanted > 0 and result.claimed:
            result.urgent_queues = more_urgent_queues_waiting(self.queue)
        if wanted <= 0 or result.urgent_queues:
            self.exhausted = True
            result.yielded = bool(result.urgent_queues)
            return
        rows = notifications_claim(
            queue=self.queue,
            limit=wanted,
            token=self.token,
            now=timezone.now(),
            exclude_types=frozenset(self.blocked_types),
        )
        result.claimed += len(rows)
        # The re-check for the whole claim: one policy evaluation instead of a statement per row. A batching
        # drain's rows are re-checked by their group (batch.py) just before its call.
        if rows and not self.batching:
            at = time.monotonic()
            for n, refusal in zip(rows, recheck_many_before_send(rows), strict=True):
                self.prechecks[n.pk] = Precheck(refusal, at)
        self.buffer.extend(rows)
        if len(rows) < wanted:
            self.exhausted = result.queue_empty = True

    def throttled(self, notification: Notification, exc: Throttled) -> None:
        """A rate limit had no room (the row is already back in the queue): hold back what it applies to."""
        with self.lock:
            self.result.throttled_for(exc.wait)
            if exc.rate.per_person:  # this person's rows of this type wait for their room (others go on)
                same = (notification.recipient_id, notification.notification_type_id)
                held = [n for n in self.buffer if (n.recipient_id, n.notification_type_id) == same]
                for n in held:
                    self.buffer.remove(n)
                self.result.throttled += hold_back(held, self.token, exc, until_room=True)
                return
            if exc.rate.key.startswith("type:"):
                self.blocked_types.add(notification.notification_type_id)
                held = [n for n in self.buffer if n.notification_type_id == notification.notification_type_id]
            else:  # no sender of the channel has room: stop, the wake-up comes when one does
                self.stopped = self.result.sender_blocked = True
                held = list(self.buffer)
            for n in held:
                self.buffer.remove(n)
            self.result.throttled += hold_back(held, self.token, exc)
