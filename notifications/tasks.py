"""Celery tasks: thin wrappers that take names or ids and call a service.

Every task is safe to run twice or to lose: the rows in the database decide what gets sent. Other modules
publish these by name (notifications.queueing), never by importing this module.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from django.db import DatabaseError
from django.utils import timezone

from commhub.memory import release_freed_memory
from commhub.queues import delivery_queues

from .delivery import drain, notifications_promote_due, queue_drain
from .delivery import sweep as sweep_service
from .heartbeat import heartbeat_start, heartbeat_stop
from .queueing import DRAIN_QUEUE_TASK, PROMOTE_DUE_TASK, kick
from .recurring import RUN_TASK, recurring_run
from .selectors import queues_with_ready_rows

logger = logging.getLogger(__name__)


@celeryd_after_setup.connect
def _remember_consumed_queues(sender, instance, **kwargs) -> None:
    """Tell the drain which queues this worker serves (after -Q is applied; forked children inherit it)."""
    names = list(instance.app.amqp.queues.consume_from or {})
    drain.consumed_queues = frozenset(names) if names else None


@worker_ready.connect
def _start_heartbeat(sender, **kwargs) -> None:
    queues = ",".join(sorted(sender.app.amqp.queues.consume_from or {}))
    heartbeat_start(sender.hostname, queues)


@worker_ready.connect
def _wake_own_queues(sender, **kwargs) -> None:
    """A worker that starts wakes the queues it serves that have ready rows: after a crash, the dead worker's
    wake-ups come back only after the broker's visibility timeout, and nothing else would wake them sooner."""
    served = set(sender.app.amqp.queues.consume_from or {}) or set(delivery_queues())
    try:
        ready = queues_with_ready_rows(served & set(delivery_queues()), now=timezone.now())
    except DatabaseError:
        logger.warning("worker start: the database did not answer; the sweeper will wake the queues")
        return
    for queue in ready:
        kick(queue)
    if ready:
        logger.info("worker start: woke %s", ", ".join(sorted(ready)))


@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs) -> None:
    heartbeat_stop(sender.hostname)


@shared_task(name=DRAIN_QUEUE_TASK, ignore_result=True)
def drain_queue(queue: str) -> dict:
    """Drain `queue` for up to the time budget; wake it again if it stopped before it was empty, and wake
    the more urgent queues it stopped for (in case their own wake-up was lost)."""
    result = queue_drain(queue=queue)
    release_freed_memory()
    for urgent in result.urgent_queues:
        kick(urgent)
    if result.more_may_wait:
        kick(queue)
    elif result.wake_in is not None:  # rows wait for a rate limit: wake the queue when it has room
        kick(queue, countdown=max(0.05, result.wake_in))
    return {
        "queue": queue,
        "claimed": result.claimed,
        "sent": result.sent,
        "failed": result.failed,
        "suppressed": result.suppressed,
        "throttled": result.throttled,
    }


@shared_task(name=PROMOTE_DUE_TASK, ignore_result=True)
def promote_due(notification_id: str) -> None:
    """A retry's backoff has elapsed: queue the row again (if nothing else did) and wake its queue."""
    notifications_promote_due(ids=[notification_id])


@shared_task(name="notifications.dispatch_due", ignore_result=True)
def dispatch_due() -> dict:
    """Beat: queue every scheduled or retry-waiting row whose time has come."""
    return notifications_promote_due()


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> dict:
    """Beat: recover rows whose worker died and queues whose wake-ups were lost."""
    result = sweep_service()
    return {"requeued": result.requeued, "poisoned": result.poisoned, "queues": result.rekicked_queues}


@shared_task(name=RUN_TASK, ignore_result=True)
def run_recurring(recurring_id: int) -> dict:
    """Beat: one occurrence of a recurring send staff scheduled in the admin."""
    run = recurring_run(recurring_id)
    return {"ran": run is not None, "created": run.created if run else 0}
