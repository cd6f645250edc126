"""Fault injection with real processes (issue 5): a worker killed with SIGKILL half-way through 2,000 sends, a
Redis flushed with 1,000 wake-ups in it, two beat processes at once. Every notification reaches a terminal
state; the counts are printed."""

import os
import signal
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from notifications.constants import Status
from notifications.delivery import sweep
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.conftest import point_publisher_at, wait_until
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker"),
]

TERMINAL = (Status.SENT, Status.DELIVERED, Status.FAILED, Status.SUPPRESSED, Status.CANCELLED)


def queue_reports(n: int, **kwargs) -> list:
    RecipientFactory(external_id="123", email="dana@example.com")
    ids = []
    for start in range(0, n, 1000):
        items = [
            SubmitRequest(recipient="123", type="monthly_report", data={"month": f"M{i}"}, **kwargs)
            for i in range(start, min(n, start + 1000))
        ]
        results = notifications_submit_batch(items)
        assert all(r.ok for r in results)
        ids += [r.notification.pk for r in results]
    return ids


def unrecorded_bound(concurrency: int, threads: int) -> int:
    """The documented crash bound (notifications/delivery/__init__.py): per worker process, two batches of
    write-behind success records and one send in flight per sender thread."""
    return concurrency * (2 * settings.COMMHUB["RECORD_BATCH"] + threads)


def provider_calls_per_notification(fake) -> Counter:
    return Counter(r.fields.get("v:notification_id") for r in fake.calls(MAILGUN))


def terminal(ids) -> int:
    return Notification.objects.filter(pk__in=ids, status__in=TERMINAL).count()


def test_sigkill_half_way_through_2000_loses_nothing(catalogue, fake, start_worker):
    ids = queue_reports(2000)
    senders = {"COMMHUB_DRAIN_THREADS": "4", "COMMHUB_LEASE_SECONDS": "2"}
    concurrency, threads = 2, 4
    fake.latency = 0.003
    first = start_worker(fake, concurrency=concurrency, **senders)
    assert wait_until(lambda: len(fake.calls(MAILGUN)) >= 1000, timeout=60), first.log.read_text()[-3000:]
    os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool children, mid-drain
    first.proc.wait(timeout=10)
    at_kill = len(fake.calls(MAILGUN))
    stuck = Notification.objects.filter(pk__in=ids, status=Status.SENDING).count()

    start_worker(fake, concurrency=concurrency, **senders)

    def recovered() -> bool:
        sweep()  # what beat runs every COMMHUB_SWEEP_INTERVAL: expired leases back to the queue, queues re-kicked
        return terminal(ids) == len(ids)

    assert wait_until(recovered, timeout=120, interval=1.0)
    calls = provider_calls_per_notification(fake)
    duplicates = sum(count - 1 for count in calls.values() if count > 1)
    lost = len(ids) - terminal(ids)
    never_called = sum(1 for pk in ids if calls[str(pk)] == 0)
    sent = Notification.objects.filter(pk__in=ids, status=Status.SENT).count()
    print(
        f"\nSIGKILL after {at_kill} provider calls ({stuck} rows held by the dead worker): {len(ids)} notifications, "
        f"{sent} sent, lost {lost}, never sent {never_called}, duplicate provider calls {duplicates} "
        f"(bound: {concurrency} processes x (2 x {settings.COMMHUB['RECORD_BATCH']} records + {threads} sender "
        f"threads) = {unrecorded_bound(concurrency, threads)})"
    )
    assert lost == 0 and never_called == 0 and sent == len(ids)
    assert duplicates <= unrecorded_bound(concurrency, threads)


def test_a_flushed_redis_with_1000_queued_is_recovered_by_the_sweeper(catalogue, fake, start_worker, settings, caplog):
    import redis

    start_worker(fake, concurrency=1)  # running already: a worker that starts wakes its own queues itself
    redis_url = settings.CELERY_BROKER_URL
    point_publisher_at("redis://127.0.0.1:1/0")  # the wake-ups of the 1,000 go nowhere ...
    ids = queue_reports(1000)
    # ... once the publishing thread has tried (it publishes after the commit, in its own time: switching back
    # before it tried would hand it the real broker)
    lost = "could not publish a wake-up for queue email_reports"
    assert wait_until(lambda: lost in caplog.text, timeout=60)
    point_publisher_at(redis_url)
    redis.Redis.from_url(redis_url).flushdb()  # ... and anything that did arrive is flushed
    assert not wait_until(lambda: len(fake.calls(MAILGUN)) > 0, timeout=2)  # nothing wakes the worker
    settings.COMMHUB = {**settings.COMMHUB, "STALE_QUEUED_SECONDS": 0}
    result = sweep()
    assert "email_reports" in result.rekicked_queues
    assert wait_until(lambda: terminal(ids) == len(ids), timeout=90)
    print(f"\nflushed Redis: {len(ids)} queued, {terminal(ids)} terminal after one sweep")
    assert Notification.objects.filter(pk__in=ids, status=Status.SENT).count() == 1000
    assert len(fake.calls(MAILGUN)) == 1000


def test_two_beat_processes_send_nothing_twice(catalogue, fake, start_worker, start_beat):
    ids = queue_reports(200, send_at=timezone.now() + timedelta(seconds=3))
    assert Notification.objects.filter(pk__in=ids, status=Status.SCHEDULED).count() == 200
    start_worker(fake, concurrency=2)
    logs = [start_beat(fake), start_beat(fake)]
    assert wait_until(lambda: terminal(ids) == 200, timeout=60), logs[0].read_text()[-2000:]
    calls = provider_calls_per_notification(fake)
    print(
        f"\ntwo beats: 200 scheduled, {sum(calls.values())} provider calls, max per notification {max(calls.values())}"
    )
    assert sum(calls.values()) == 200 and set(calls.values()) == {1}


def test_broker_down_during_100_api_sends_then_everything_is_sent(
    api, catalogue, fake, start_worker, settings, broker_down
):
    RecipientFactory(external_id="123", email="dana@example.com")
    body = {"recipient": "123", "type": "monthly_report", "data": {"month": "May"}}
    responses = [api.post("/api/v1/notifications/", body, format="json") for _ in range(100)]
    assert all(r.status_code == 202 for r in responses), {r.status_code for r in responses}
    ids = [r.json()["id"] for r in responses]
    assert Notification.objects.filter(pk__in=ids, status=Status.QUEUED).count() == 100  # every 2xx has its row

    point_publisher_at(settings.CELERY_BROKER_URL)  # the broker is back
    start_worker(fake, concurrency=1)
    settings.COMMHUB = {**settings.COMMHUB, "STALE_QUEUED_SECONDS": 0}
    sweep()
    assert wait_until(lambda: terminal(ids) == 100, timeout=60)
    print(f"\nbroker down for 100 API sends: 100 x 202, 100 rows, {len(fake.calls(MAILGUN))} sent after it returned")
    assert len(fake.calls(MAILGUN)) == 100


def test_a_rolled_back_transaction_enqueues_nothing_and_calls_no_provider(catalogue, fake, start_worker):
    import redis
    from django.db import transaction

    from notifications.services import notification_submit

    RecipientFactory(external_id="123", email="dana@example.com")
    start_worker(fake, concurrency=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        notification_submit(SubmitRequest(recipient="123", type="monthly_report", data={"month": "May"}))
        raise RuntimeError("the caller's transaction fails after the submit")
    assert Notification.objects.count() == 0
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(prefix + "email_reports") == 0
    assert not wait_until(lambda: len(fake.calls()) > 0, timeout=2)
