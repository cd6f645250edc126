"""Recovery without idle minutes, with real worker processes (nothing is lost in either case already; these
check that no time is lost either):

* a worker pool SIGKILLed mid-drain and restarted resumes sending within seconds: a worker that becomes ready
  wakes the queues it serves (the dead worker's wake-ups would only come back after the broker's visibility
  timeout);
* every database connection terminated mid-drain: each sender drops its broken connection, gives its claims
  back on a new one and the drain starts again, so no row waits for its lease (120 s) to expire.

Neither test calls the sweeper: recovering by it is what they rule out."""

import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connection

from notifications.constants import Status
from notifications.models import Notification
from tests.conftest import wait_until
from tests.e2e.test_faults import provider_calls_per_notification, queue_reports, terminal, unrecorded_bound
from tests.fakes.providers import MAILGUN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker"),
]

CONCURRENCY, THREADS = 2, 4
SENDERS = {"COMMHUB_DRAIN_THREADS": str(THREADS), "COMMHUB_LEASE_SECONDS": "120"}


def _report(label: str, ids: list, fake) -> tuple[int, int]:
    calls = provider_calls_per_notification(fake)
    duplicates = sum(count - 1 for count in calls.values() if count > 1)
    lost = len(ids) - terminal(ids)
    sent = Notification.objects.filter(pk__in=ids, status=Status.SENT).count()
    print(f"\n{label}: {len(ids)} notifications, {sent} sent, lost {lost}, duplicate provider calls {duplicates}")
    return lost, duplicates


def test_a_pool_killed_and_restarted_resumes_sending_within_5_seconds(catalogue, fake, start_worker):
    ids = queue_reports(2000)
    fake.latency = 0.003
    first = start_worker(fake, concurrency=CONCURRENCY, **SENDERS)
    assert wait_until(lambda: len(fake.calls(MAILGUN)) >= 300, timeout=60), first.log.read_text()[-3000:]
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    time.sleep(0.5)  # calls already on the wire land
    at_kill = len(fake.calls(MAILGUN))
    queued = Notification.objects.filter(pk__in=ids, status=Status.QUEUED).count()
    assert queued > 1000  # most of the work is still waiting

    second = start_worker(fake, concurrency=CONCURRENCY, **SENDERS)  # returns once the worker says ready
    ready = time.monotonic()
    assert wait_until(lambda: len(fake.calls(MAILGUN)) > at_kill, timeout=10, interval=0.02), second.log.read_text()[
        -3000:
    ]
    resumed = time.monotonic() - ready
    print(f"\nrestarted pool: first send {resumed:.2f} s after ready ({queued} rows were queued)")
    assert resumed <= 5.0
    # everything the dead worker did not hold is sent without the sweeper; what it held waits for its lease
    held = Notification.objects.filter(pk__in=ids, status=Status.SENDING, claim_token__isnull=False).count()
    assert wait_until(
        lambda: terminal(ids) >= len(ids) - held - unrecorded_bound(CONCURRENCY, THREADS), timeout=90, interval=0.5
    )


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="PostgreSQL")
def test_every_database_connection_cut_mid_drain_then_everything_sent_within_15_seconds(catalogue, fake, start_worker):
    ids = queue_reports(2000)
    fake.latency = 0.003
    worker = start_worker(fake, concurrency=CONCURRENCY, **SENDERS)
    assert wait_until(lambda: len(fake.calls(MAILGUN)) >= 300, timeout=60), worker.log.read_text()[-3000:]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (cut,) = cursor.fetchone()
    answering_again = time.monotonic()  # the database itself never went away: it answers at once
    assert cut >= 1
    assert wait_until(lambda: terminal(ids) == len(ids), timeout=15, interval=0.25), (
        f"{len(ids) - terminal(ids)} not sent after 15 s; "
        f"{Notification.objects.filter(pk__in=ids, status=Status.SENDING).count()} still claimed\n"
        + worker.log.read_text()[-4000:]
    )
    took = time.monotonic() - answering_again
    lost, duplicates = _report(f"{cut} connections cut, all sent {took:.1f} s later", ids, fake)
    assert lost == 0 and Notification.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids)
    assert duplicates <= unrecorded_bound(CONCURRENCY, THREADS)
