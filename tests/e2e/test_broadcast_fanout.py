"""A broadcast's fan-out by the real processes: 20,000 subscribers, a worker SIGKILLed mid-fan-out and a new one
started, beat resuming the running broadcast every second. Every subscriber ends with exactly one notification."""

from __future__ import annotations

import os
import signal

import pytest
from django.db.models import Count
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from broadcasts.models import Broadcast, Topic, TopicSubscription
from broadcasts.services import broadcast_start
from notifications.models import Notification, NotificationType
from preferences.models import Recipient
from tests.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PEOPLE = int(os.environ.get("COMMHUB_E2E_BROADCAST_PEOPLE", "20000"))  # the 100,000: set it so


def test_a_worker_killed_mid_fan_out_leaves_everyone_with_exactly_one_notification(catalogue, start_worker, start_beat):
    Recipient.objects.bulk_create(
        [Recipient(external_id=f"b{i}", email=f"b{i}@example.com", timezone="UTC") for i in range(PEOPLE)],
        batch_size=5000,
    )
    topic = Topic.objects.create(key="news", name="News")
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, recipient_id=pk) for pk in Recipient.objects.values_list("pk", flat=True)],
        batch_size=5000,
    )
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="broadcasts.advance").update(interval=every_second)
    PeriodicTasks.update_changed()
    broadcast = Broadcast.objects.create(
        name="May report",
        notification_type=NotificationType.objects.get(key="monthly_report"),
        audience=Broadcast.Audience.TOPIC,
        topic=topic,
        data={"month": "May", "summary": "All good."},
    )
    first = start_worker(queues="maintenance")
    broadcast_start(broadcast=broadcast)
    assert wait_until(lambda: Broadcast.objects.get().processed >= PEOPLE // 6, timeout=300)
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    killed_at = Broadcast.objects.get().processed
    assert killed_at < PEOPLE, "the fan-out finished before the kill: nothing was tested"

    start_worker(queues="maintenance")
    start_beat()
    assert wait_until(lambda: Broadcast.objects.get().state == Broadcast.State.DONE, timeout=600)
    made = Notification.objects.values("recipient_id").annotate(n=Count("pk"))
    assert made.count() == PEOPLE and not made.filter(n__gt=1).exists()
    done = Broadcast.objects.get()
    assert (done.processed, done.accepted, done.audience_size) == (PEOPLE, PEOPLE, PEOPLE)
    print(f"\nfan-out of {PEOPLE}: worker SIGKILLed after {killed_at}, resumed by beat and a new worker")
