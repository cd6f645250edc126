"""commhub's own lifecycle events on Kafka (seed 003's producers), from the outbox the webhooks use: a
notification's events published keyed by its id, in order, once each, to a real Kafka protocol server."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer

from hooks.kafka_publish import lifecycle_publish
from hooks.models import LifecycleEvent
from notifications.services import SubmitRequest, notification_cancel, notification_submit

pytestmark = pytest.mark.django_db
REPORT = {"month": "May", "summary": "Fine."}


def read_all(address: str, topic: str, expected: int) -> list:
    consumer = Consumer({"bootstrap.servers": address, "group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list = []
    for _ in range(30):
        got += [m for m in consumer.consume(num_messages=100, timeout=1.0) if not m.error()]
        if len(got) >= expected:
            break
    consumer.close()
    return got


@pytest.fixture
def producers():
    """The publisher keeps a producer per cluster; this test's cluster goes away with it, so does its producer."""
    from hooks import kafka_publish

    yield
    for producer in kafka_publish._producers.values():
        producer.flush(1)
    kafka_publish._producers.clear()


def test_lifecycle_events_go_to_kafka_keyed_and_in_order(catalogue, recipient, kafka, settings, producers):
    assert lifecycle_publish() == 0  # not configured: nothing to do, nothing written
    settings.KAFKA_BOOTSTRAP_SERVERS, settings.KAFKA_LIFECYCLE_TOPIC = kafka, "commhub.lifecycle"
    later = notification_submit(SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT))
    notification_cancel(notification_id=later.pk)
    assert list(LifecycleEvent.objects.order_by("id").values_list("name", "kafka_pending")) == [
        ("accepted", True),
        ("cancelled", True),
    ]
    assert lifecycle_publish() == 2
    assert lifecycle_publish() == 0  # published once
    assert not LifecycleEvent.objects.filter(kafka_pending=True).exists()
    messages = read_all(kafka, "commhub.lifecycle", 2)
    assert [m.key() for m in messages] == [str(later.pk).encode()] * 2
    bodies = [json.loads(m.value()) for m in messages]
    assert [b["type"] for b in bodies] == ["notification.accepted", "notification.cancelled"]
    assert (
        bodies[0]["data"]["notification"] == str(later.pk)
        and dict(messages[1].headers())["type"] == b"notification.cancelled"
    )
