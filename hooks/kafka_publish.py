"""Publishing lifecycle events to Kafka from the outbox (seed 003's producers: `notification.sent`, ...).

The outbox marks every event `kafka_pending` when KAFKA_LIFECYCLE_TOPIC is set. A run takes the oldest pending
ones in id order, under a lock only one publisher holds at a time (order per notification holds across
publishers), produces each keyed by its notification id (Kafka keeps a key's messages in order), waits for the
brokers' acknowledgements and clears what they took. What they did not take stays pending for the next run:
at least once; consumers deduplicate on the event id, as webhook receivers do.
"""

from __future__ import annotations

import json
import logging
import time

from confluent_kafka import Producer
from django.conf import settings
from django.db import connection, transaction

from commhub import tenancy

from .models import LifecycleEvent

logger = logging.getLogger(__name__)
LOCK = 0x636F6D6D68756221  # "commhub!": one publisher at a time (a transaction-level advisory lock)
_producers: dict[str, Producer] = {}  # one per process and cluster: it holds the connections to the brokers


def _the_producer() -> Producer:
    servers = settings.KAFKA_BOOTSTRAP_SERVERS
    if servers not in _producers:
        _producers[servers] = Producer({"bootstrap.servers": servers, "enable.idempotence": True})
    return _producers[servers]


def _published(producer: Producer, pending: list[tuple]) -> list[int]:
    """Produce the events and wait for the brokers: the ids they acknowledged."""
    taken: list[int] = []

    def acknowledged(pk: int):
        def said(err, message) -> None:
            if err is None:
                taken.append(pk)
            else:
                logger.warning("kafka: lifecycle event %s not published: %s", pk, err)

        return said

    for pk, notification_id, name, body in pending:
        producer.produce(
            settings.KAFKA_LIFECYCLE_TOPIC,
            value=json.dumps(body, separators=(",", ":")).encode(),
            key=str(notification_id).encode(),
            headers={"type": f"notification.{name}"},
            on_delivery=acknowledged(pk),
        )
    producer.flush(30)
    return taken


def _only_publisher() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK])
        return bool(cursor.fetchone()[0])


def lifecycle_publish(*, batch: int = 1000, time_budget: float = 50.0) -> int:
    """Publish pending lifecycle events until none are left or `time_budget` runs out. Returns how many."""
    if not (settings.KAFKA_BOOTSTRAP_SERVERS and settings.KAFKA_LIFECYCLE_TOPIC):
        return 0
    began, published = time.monotonic(), 0
    producer = _the_producer()
    with tenancy.everything():
        while time.monotonic() - began < time_budget:
            with transaction.atomic():
                if not _only_publisher():
                    return published
                pending = list(
                    LifecycleEvent.objects.filter(kafka_pending=True)
                    .order_by("id")
                    .values_list("id", "notification_id", "name", "payload")[:batch]
                )
                if not pending:
                    return published
                taken = _published(producer, pending)
                LifecycleEvent.objects.filter(pk__in=taken).update(kafka_pending=False)
                published += len(taken)
                if len(taken) < len(pending):
                    return published  # the brokers refused some: the next run tries them again, in order
    return published
