"""Events from a stream: a Kafka consumer group (confluent-kafka), at least once.

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
from collections.abc import Callable
from dataclasses import dataclass

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
