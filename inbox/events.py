"""The inbox's real-time side: every change to a person's inbox is an InboxEvent row, written in the same
transaction as the change, and after the commit a wake-up for that person is published.

Fan-out across processes: the worker that delivers an item is not the web process that holds the person's
connection. With Redis (COMMHUB_REALTIME_REDIS_URL, the broker's by default) the wake-up is a PUBLISH on the
person's channel, which every web node's open streams for that person are subscribed to; without Redis (the
embedded mode) a stream looks for new rows twice a second. Either way the rows are what a client receives (the
wake-up carries nothing), so a lost wake-up delays an event by at most the stream's check interval, and a
client reconnecting with its last event id gets everything after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from django.db import transaction

from commhub.conf import knobs

from .models import InboxEvent, InboxItem

logger = logging.getLogger(__name__)


def channel_of(recipient_id: int) -> str:
    return f"commhub:inbox:{recipient_id}"


def events_record(items: Iterable[InboxItem], kind: str) -> list[InboxEvent]:
    """One event per item (in the caller's transaction); their people are woken after the commit."""
    events = InboxEvent.objects.bulk_create(
        InboxEvent(organisation_id=i.organisation_id, recipient_id=i.recipient_id, item=i, kind=kind) for i in items
    )
    people = sorted({e.recipient_id for e in events})
    if people:
        transaction.on_commit(lambda: wake(people))
    return events


_client: tuple[str, redis.Redis] | None = None


def _redis() -> redis.Redis | None:
    global _client
    url = knobs().realtime_redis_url
    if not url:
        return None
    if _client is None or _client[0] != url:
        _client = (url, redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))
    return _client[1]


def wake(recipient_ids: list[int]) -> None:
    """Best effort: a wake-up that does not arrive is made up by the stream's own check."""
    client = _redis()
    if client is None:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            for recipient_id in recipient_ids:
                pipe.publish(channel_of(recipient_id), "1")
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("inbox wake-up not published (%s): streams pick the events up at their next check", exc)


PURGE_CHUNK = 10_000


def events_purge(*, before) -> int:
    """Delete the event log older than `before` (the items stay): a client resuming from an event that old gets the
    later ones only, and a fresh connection starts from the unread count anyway. Oldest first by id, a chunk per
    statement, stopping at the first event that is recent enough (ids grow with time: no index on the time)."""
    deleted = 0
    while True:
        oldest = list(InboxEvent.objects.order_by("id").values_list("id", "created_at")[:PURGE_CHUNK])
        expired = [pk for pk, at in oldest if at < before]
        if not expired:
            return deleted
        count, _ = InboxEvent.objects.filter(id__lte=expired[-1], created_at__lt=before).delete()
        deleted += count
        if len(expired) < len(oldest):  # reached the events recent enough to keep
            return deleted
