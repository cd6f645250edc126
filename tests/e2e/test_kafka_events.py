"""Kafka end to end: 10,000 events produced to a topic on a real Kafka protocol server (librdkafka's mock cluster,
tests/fakes/kafka_cluster.py), read by `manage.py consume_events` as a real process in a consumer group. The
consumer is SIGKILLed mid-stream and restarted; producers re-send a hundred events (a retry); two messages are
not events. Every event must become exactly one notification, none twice, none lost, and the two bad messages
must be dead letters with their reasons while the stream goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from django.db.models import Count

from notifications.models import Notification, NotificationType
from preferences.models import Recipient
from tests.conftest import wait_until, worker_env
from triggers.models import DeadEvent, Event, Rule, RuleRun
from triggers.services import rule_version_draft, rule_version_publish

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
TOPIC, GROUP, EVENTS, PEOPLE = "commhub.events", "commhub-test", 10_000, 200


def consumer(address: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_events",
            "--servers",
            address,
            "--topic",
            TOPIC,
            "--group",
            GROUP,
            "--batch",
            "250",
        ],
        cwd=ROOT,
        env=worker_env(),
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def event(i: int) -> bytes:
    body = {"id": f"order-{i}", "name": "order.shipped", "recipients": [f"k{i % PEOPLE}"], "data": {"order": i}}
    return json.dumps(body).encode()


def test_ten_thousand_events_through_kafka_survive_a_sigkill_without_a_duplicate_or_a_loss(catalogue, kafka, tmp_path):
    Recipient.objects.bulk_create(
        [Recipient(external_id=f"k{i}", email=f"k{i}@example.com", timezone="UTC") for i in range(PEOPLE)]
    )
    rule = Rule.objects.create(key="shipped", event_name="order.shipped")
    ntype = NotificationType.objects.get(key="security_alert")
    rule_version_publish(version=rule_version_draft(rule=rule, notification_type=ntype, channel="email"))
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 20})
    for i in range(EVENTS):
        producer.produce(TOPIC, event(i), key=str(i % PEOPLE))
        if i == EVENTS // 2:
            producer.produce(TOPIC, b"{not json", key="x")
            producer.produce(TOPIC, json.dumps({"id": "no-name", "data": {}}).encode(), key="y")
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    log = tmp_path / "consumer.log"
    first = consumer(kafka, log)
    assert wait_until(lambda: Event.objects.count() >= 3000, timeout=120), log.read_text()[-3000:]
    os.killpg(first.pid, signal.SIGKILL)  # mid-stream: a batch may be stored with its offsets not committed
    first.wait()
    killed_at = Event.objects.count()
    for i in range(100):  # a producer's retry: the same ids again
        producer.produce(TOPIC, event(i), key=str(i % PEOPLE))
    assert producer.flush(30) == 0

    second = consumer(kafka, log)
    try:
        assert wait_until(lambda: Event.objects.count() == EVENTS and DeadEvent.objects.count() == 2, timeout=180), (
            log.read_text()[-3000:]
        )
        time.sleep(3)  # anything more (a replay made into new rows) would show now
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)

    assert Event.objects.count() == EVENTS and Notification.objects.count() == EVENTS
    runs = RuleRun.objects.values("event_id").annotate(n=Count("pk"))
    assert runs.count() == EVENTS and not runs.filter(n__gt=1).exists()
    per_recipient = Notification.objects.values("recipient__external_id").annotate(n=Count("pk"))
    assert {r["n"] for r in per_recipient} == {EVENTS // PEOPLE}
    dead = {d.payload: d.reason for d in DeadEvent.objects.all()}
    assert dead["{not json"].startswith("not JSON") and "name" in dead['{"id": "no-name", "data": {}}']
    assert f"{TOPIC}[" in DeadEvent.objects.first().where
    print(f"\n{EVENTS} events through Kafka; consumer SIGKILLed after {killed_at} were stored; log tail:")
    print("\n".join(log.read_text().splitlines()[-3:]))
