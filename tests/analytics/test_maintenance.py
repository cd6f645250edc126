"""The maintenance schedule: five beat rows created by code (a staff edit survives a re-install), queue-depth
samples, and the retention purge (which never touches notifications or the ledger)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from analytics.maintenance import queue_depths_sample, retention_purge
from analytics.models import QueueDepthSample
from notifications.models import CapturedMessage, Notification
from notifications.schedules import PERIODIC_TASKS, periodic_tasks_install
from tests.factories import submit

pytestmark = pytest.mark.django_db


def test_the_maintenance_jobs_are_beat_rows_and_staff_edits_stay():
    periodic_tasks_install()
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="commhub: ")}
    assert {t.task for t in tasks.values()} == {
        "notifications.dispatch_due",
        "notifications.sweep",
        "analytics.rollups",
        "analytics.rollups_recount",
        "analytics.sample_queues",
        "analytics.retention_purge",
        "hooks.events_deliver",
        "hooks.kafka_publish",
        "calls.remind",
        "calls.mark_missed",
        "triggers.digests_flush",
        "broadcasts.advance",
    }
    # lifecycle events go out on their own queue (HTTP to product backends); the rest are tiny
    on_events = {"hooks.events_deliver", "hooks.kafka_publish"}
    assert {t.queue for t in tasks.values() if t.task in on_events} == {"events"}
    assert {t.queue for t in tasks.values() if t.task not in on_events} == {"maintenance"}
    rollups = tasks["commhub: fold changes into rollups"]
    rollups.enabled = False
    rollups.save()
    PeriodicTask.objects.create(name="staff's own job", task="analytics.rollups", interval=rollups.interval)
    assert periodic_tasks_install() == 0
    assert PeriodicTask.objects.get(name="commhub: fold changes into rollups").enabled is False
    assert PeriodicTask.objects.filter(name="staff's own job").exists()
    assert len(PERIODIC_TASKS) == 12


def test_queue_depth_samples_count_ready_waiting_and_sending(catalogue, recipient):
    submit()
    submit(send_at=timezone.now() + timedelta(hours=2))
    now = timezone.now()
    queue_depths_sample(now=now)
    sample = QueueDepthSample.objects.get(queue="sms_critical", at=now)
    assert (sample.ready, sample.waiting, sample.sending) == (1, 1, 0)


def test_the_retention_purge_drops_old_samples_and_captures_only(catalogue, recipient, settings):
    now = timezone.now()
    old = now - timedelta(days=settings.COMMHUB["SAMPLE_RETENTION_DAYS"] + 1)
    QueueDepthSample.objects.create(at=old, queue="sms_critical", ready=1, waiting=0, sending=0)
    QueueDepthSample.objects.create(at=now, queue="sms_critical", ready=1, waiting=0, sending=0)
    n = submit()
    stale = CapturedMessage.objects.create(channel="sms", to="+14155550123", body="old", message_id="SMold")
    CapturedMessage.objects.filter(pk=stale.pk).update(created_at=now - timedelta(days=365))
    CapturedMessage.objects.create(channel="sms", to="+14155550123", body="new", message_id="SMnew")
    result = retention_purge(now=now)
    assert (result.samples, result.captured) == (1, 1)
    assert QueueDepthSample.objects.count() == 1 and CapturedMessage.objects.get().body == "new"
    assert Notification.objects.filter(pk=n.pk).exists()


def test_the_purge_drops_expired_refresh_tokens_and_old_login_records(db):
    from axes.models import AccessLog
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.create_user("client", password="x" * 20)
    live, used = RefreshToken.for_user(user), RefreshToken.for_user(user)
    used.blacklist()
    now = timezone.now()
    OutstandingToken.objects.filter(jti=used["jti"]).update(expires_at=now - timedelta(hours=1))
    old = AccessLog.objects.create(user_agent="curl", ip_address="198.51.100.1", username="client", path_info="/")
    AccessLog.objects.filter(pk=old.pk).update(attempt_time=now - timedelta(days=91))
    AccessLog.objects.create(user_agent="curl", ip_address="198.51.100.1", username="client", path_info="/")
    result = retention_purge(now=now)
    assert (result.expired_tokens, result.login_records) == (2, 1)  # the token and its blacklist entry
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]
    assert not BlacklistedToken.objects.exists() and AccessLog.objects.count() == 1
