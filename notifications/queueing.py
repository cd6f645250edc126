"""Wake-ups ("kicks"): the Celery messages that tell a worker a queue has ready rows.

A kick carries only a queue name. Losing one delays a notification until the sweeper re-kicks its
queue; it never loses the notification, whose row is already committed. So publishing is best effort:
a broker outage must not turn an accepted request into an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

logger = logging.getLogger(__name__)


def kick(queue: str, *, countdown: float | None = None) -> bool:
    """Publish a drain wake-up for `queue` now. Returns False (and logs) when the broker refused it."""
    from .tasks import drain_queue

    try:
        drain_queue.apply_async(args=[queue], queue=queue, countdown=countdown)
    except Exception:  # the broker is down or misconfigured: the sweeper will re-kick
        logger.warning("could not publish a wake-up for queue %s; the sweeper will retry", queue, exc_info=True)
        return False
    return True


def kick_on_commit(queues: Iterable[str]) -> None:
    """Publish one wake-up per distinct queue once the current transaction has committed."""
    for queue in sorted(set(queues)):
        transaction.on_commit(lambda q=queue: kick(q))
