"""Wake-ups ("kicks"): the Celery messages that tell a worker a queue has ready rows.

A kick carries only a queue name. Losing one delays a notification until the sweeper re-kicks its
queue; it never loses the notification, whose row is already committed. So publishing is best effort:
a broker outage must not turn an accepted request into an error.

Wake-ups are published by task name (`send_task`), so this module, which the send path uses, does not
import the tasks module, which calls the send path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.db import transaction

from commhub.celery import app

DRAIN_QUEUE_TASK = "notifications.drain_queue"
PROMOTE_DUE_TASK = "notifications.promote_due"

logger = logging.getLogger(__name__)


def kick(queue: str, *, countdown: float | None = None) -> bool:
    """Publish a drain wake-up for `queue` now. Returns False (and logs) when the broker refused it."""
    try:
        app.send_task(DRAIN_QUEUE_TASK, args=[queue], queue=queue, countdown=countdown)
    except Exception:  # the broker is down or misconfigured: the sweeper will re-kick
        logger.warning("could not publish a wake-up for queue %s; the sweeper will retry", queue, exc_info=True)
        return False
    return True


def kick_on_commit(queues: Iterable[str]) -> None:
    """Publish one wake-up per distinct queue once the current transaction has committed."""
    for queue in sorted(set(queues)):
        transaction.on_commit(partial(kick, queue))


def wake_after_backoff(notification_id: object, queue: str, delay: float) -> None:
    """Queue a retrying row again once its backoff has elapsed (best effort: the beat dispatcher does it anyway)."""
    try:
        app.send_task(PROMOTE_DUE_TASK, args=[str(notification_id)], queue=queue, countdown=delay)
    except Exception:
        logger.warning(
            "could not schedule the retry wake-up of %s; the dispatcher will", notification_id, exc_info=True
        )
