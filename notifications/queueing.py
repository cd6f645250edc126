"""Wake-ups ("kicks"): the Celery messages that tell a worker a queue has ready rows.

A kick carries only a queue name. Losing one delays a notification until the sweeper re-kicks its
queue; it never loses the notification, whose row is already committed. So publishing is best effort:
a broker outage must not turn an accepted request into an error.

Wake-ups are published by task name (`send_task`), so this module, which the send path uses, does not
import the tasks module, which calls the send path.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from functools import partial

from django.db import transaction

from commhub.celery import app
from commhub.conf import knobs

DRAIN_QUEUE_TASK = "notifications.drain_queue"
PROMOTE_DUE_TASK = "notifications.promote_due"

logger = logging.getLogger(__name__)


def kick(queue: str, *, countdown: float | None = None) -> bool:
    """Publish a drain wake-up for `queue` now. Returns False (and logs) when the broker refused it."""
    return _publish(DRAIN_QUEUE_TASK, queue, countdown=countdown)


def _publish(task: str, queue: str, *, countdown: float | None = None) -> bool:
    try:  # a drain is told which queue to drain; other wake-ups take no argument
        app.send_task(task, args=[queue] if task == DRAIN_QUEUE_TASK else [], queue=queue, countdown=countdown)
    except Exception:  # the broker is down or misconfigured: the sweeper (or the task's beat schedule) will
        logger.warning(
            "could not publish a wake-up for queue %s (%s); the sweeper or its beat schedule will retry",
            queue,
            task,
            exc_info=True,
        )
        return False
    return True


def kick_on_commit(queues: Iterable[str]) -> None:
    """Wake each distinct queue once the current transaction has committed (through the process's coalescing
    publisher: see `Waker`)."""
    distinct = set(queues)
    if distinct:
        transaction.on_commit(partial(waker.wake, distinct))


def task_later(task: str, queue: str, *, countdown: float) -> bool:
    """Run `task` (no arguments) on `queue` in `countdown` seconds (best effort, like every wake-up)."""
    return _publish(task, queue, countdown=countdown)


def task_on_commit(task: str, queue: str) -> None:
    """Run `task` (no arguments) on `queue` once the current transaction has committed, coalesced like the
    drain's wake-ups (many commits in a window share one run)."""
    transaction.on_commit(partial(waker.wake_task, task, queue))


class Waker:
    """Publishes the wake-ups the API's commits ask for from one thread per process, coalescing them per queue:
    the first request after a quiet spell is published at once; requests that arrive while a wake-up is being
    published, or within COMMHUB_WAKEUP_COALESCE_MS of the last one, share the next. Every commit is followed by
    a wake-up published after it, so a worker that drained its queue just before a commit is always woken
    again; under load, a busy queue costs one publish per window instead of one per request (the publish is
    a fifth of a single send's CPU). The request thread never waits for the broker. Wake-ups still pending
    when the process exits are published by an exit hook; a process killed outright leaves them to the
    sweeper, like any lost wake-up."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """A forked child starts with no thread, no pending wake-ups (they are its parent's) and a fresh lock
        (the parent's may have been held by another thread at the fork)."""
        self._cond = threading.Condition()
        self._pending: set[tuple[str, str]] = set()  # (task, queue)
        self._pid: int | None = None

    def wake(self, queues: Iterable[str]) -> None:
        self._add((DRAIN_QUEUE_TASK, queue) for queue in queues)

    def wake_task(self, task: str, queue: str) -> None:
        self._add([(task, queue)])

    def _add(self, wakeups: Iterable[tuple[str, str]]) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use in this process (or a fork): its own thread
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="commhub-waker", daemon=True).start()
            self._pending.update(wakeups)
            self._cond.notify()

    def flush(self) -> None:
        """Publish whatever is pending now, in the calling thread."""
        with self._cond:
            wakeups, self._pending = self._pending, set()
        for task, queue in sorted(wakeups):
            _publish(task, queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            self.flush()
            time.sleep(knobs().wakeup_coalesce_ms / 1000)  # what arrives meanwhile shares the next publish


waker = Waker()
atexit.register(waker.flush)
os.register_at_fork(after_in_child=waker._reset)


def wake_after_backoff(notification_id: object, queue: str, delay: float) -> None:
    """Queue a retrying row again once its backoff has elapsed (best effort: the beat dispatcher does it anyway)."""
    try:
        app.send_task(PROMOTE_DUE_TASK, args=[str(notification_id)], queue=queue, countdown=delay)
    except Exception:
        logger.warning(
            "could not schedule the retry wake-up of %s; the dispatcher will", notification_id, exc_info=True
        )
