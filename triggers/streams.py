"""Events from a stream: a Kafka consumer group (confluent-kafka) or, where no Kafka is configured, a Redis
Streams consumer group; at least once.

Each poll takes up to COMMHUB_EVENTS_BATCH messages. The good ones are ingested (events stored, rules run,
notifications written) and the ones that are not events go to the dead-letter table with the reason, in one
transaction; only after it commits are the offsets committed. A consumer killed in between replays the batch, and
the event ids make the replay change nothing. When the database refuses (it is down), the consumer seeks back
to the batch's first offsets and tries again after a pause: nothing is skipped. A malformed message never stops
the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from confluent_kafka import Consumer, KafkaException, TopicPartition
from django.db import DatabaseError, transaction

from .inputs import event_from_message
from .models import DeadEvent, Event
from .services import EventIn, events_ingest

logger = logging.getLogger(__name__)
MAX_PAYLOAD = 64 * 1024


@dataclass
class Consumed:
    events: int = 0
    duplicates: int = 0
    dead: int = 0
    batches: int = 0


def _storable(raw: bytes | None) -> str:
    """A payload PostgreSQL can store in text: decoded with replacements, no NUL."""
    return (raw or b"")[:MAX_PAYLOAD].decode("utf-8", "replace").replace("\x00", "\\u0000")


def batch_take(messages: list, *, source: str, where: Callable[[object], str]) -> Consumed:
    """Ingest a batch of stream messages (objects with `.value()`): events, and dead letters for the rest, in one
    transaction."""
    good: list[EventIn] = []
    dead: list[DeadEvent] = []
    for message in messages:
        parsed = event_from_message(message.value())
        if isinstance(parsed, EventIn):
            good.append(parsed)
        else:
            reason = parsed.replace("\x00", "\\u0000")[:2000]
            dead.append(
                DeadEvent(source=source, where=where(message)[:300], payload=_storable(message.value()), reason=reason)
            )
    with transaction.atomic():
        if dead:
            DeadEvent.objects.bulk_create(dead)
        taken = events_ingest(good, source=source) if good else []
    duplicates = sum(1 for t in taken if t.duplicate)
    return Consumed(events=len(taken) - duplicates, duplicates=duplicates, dead=len(dead), batches=1)


def _kafka_where(message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


def kafka_consume(
    *,
    servers: str,
    topic: str,
    group: str,
    batch: int,
    stopping: Callable[[], bool],
    extra: dict[str, str] | None = None,
) -> Consumed:
    """Consume `topic` as a member of `group` until `stopping()` says so; returns what it took."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **(extra or {}),
        }
    )
    consumer.subscribe([topic])
    total = Consumed()
    pause = 1.0
    try:
        while not stopping():
            messages = consumer.consume(num_messages=batch, timeout=1.0)
            usable = []
            for message in messages:
                if message.error():
                    logger.warning("kafka: %s", message.error())
                    continue
                usable.append(message)
            if not usable:
                continue
            try:
                done = batch_take(usable, source=Event.Source.KAFKA, where=_kafka_where)
            except DatabaseError as exc:
                first: dict[tuple[str, int], int] = {}
                for message in usable:
                    key = (message.topic(), message.partition())
                    first[key] = min(first.get(key, message.offset()), message.offset())
                for (name, partition), offset in first.items():
                    consumer.seek(TopicPartition(name, partition, offset))
                logger.error("kafka: the batch could not be stored (%s); again in %.0f s", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = 1.0
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:  # stored already: a replay after a rebalance changes nothing
                logger.warning("kafka: offsets not committed (%s); the batch may be replayed", exc)
            for name in ("events", "duplicates", "dead", "batches"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            logger.info("kafka: %d events, %d duplicates, %d dead letters", done.events, done.duplicates, done.dead)
    finally:
        consumer.close()
    return total


class _Entry:
    """A Redis Streams entry as batch_take reads messages: its `event` field is the event's JSON."""

    def __init__(self, stream: str, entry_id: bytes, fields: dict) -> None:
        self.where = f"{stream}@{entry_id.decode()}"
        self.id = entry_id
        self._value = fields.get(b"event")

    def value(self) -> bytes | None:
        return self._value


def _take_entries(client, stream: str, group: str, entries: Iterable, pause: float) -> tuple[Consumed, bool]:
    """Ingest entries, then acknowledge them; (what was taken, whether the database refused)."""
    batch = [_Entry(stream, entry_id, fields or {}) for entry_id, fields in entries]
    if not batch:
        return Consumed(), False
    try:
        done = batch_take(batch, source=Event.Source.REDIS, where=lambda m: m.where)
    except DatabaseError as exc:  # unacknowledged: they stay pending and are read again
        logger.error("redis: the batch could not be stored (%s); again in %.0f s", exc, pause)
        return Consumed(), True
    client.xack(stream, group, *[entry.id for entry in batch])
    return done, False


def redis_consume(
    *, url: str, stream: str, group: str, consumer: str, batch: int, stopping: Callable[[], bool]
) -> Consumed:
    """Consume `stream` as `consumer` in `group` until `stopping()` says so. Entries are acknowledged after
    their transaction commits; this consumer's own unacknowledged entries (a crash) are read first, and entries
    another consumer left pending for a minute are claimed."""
    client = redis.Redis.from_url(url)
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    total, pause, own_pending = Consumed(), 1.0, True
    while not stopping():
        if own_pending:
            reply = client.xreadgroup(group, consumer, {stream: "0"}, count=batch)
            entries = reply[0][1] if reply else []
            own_pending = bool(entries)
        else:
            claimed = client.xautoclaim(stream, group, consumer, min_idle_time=60_000, start_id="0-0", count=batch)
            entries = claimed[1]
            if not entries:
                reply = client.xreadgroup(group, consumer, {stream: ">"}, count=batch, block=1000)
                entries = reply[0][1] if reply else []
        done, refused = _take_entries(client, stream, group, entries, pause)
        if refused:
            time.sleep(pause)
            pause, own_pending = min(pause * 2, 30.0), True
            continue
        pause = 1.0
        for name in ("events", "duplicates", "dead", "batches"):
            setattr(total, name, getattr(total, name) + getattr(done, name))
    return total
