"""A worker pool killed with SIGKILL in the middle of ESP batch calls (real worker processes, the fake Mailgun and
the fake Postmark speaking their batch forms and slow enough that the kill lands inside calls): nothing is lost,
and duplicates, counted per recipient at the fake, stay within the documented bound of one batch per sender
thread."""

import os
import signal
import time
from collections import Counter

import pytest
from django.conf import settings

from notifications.constants import Status
from notifications.delivery import sweep
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from preferences.models import Recipient
from tests.conftest import wait_until
from tests.fakes.providers import MAILGUN, POSTMARK

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker"),
]


def queue_reports_to_many(n: int) -> list:
    Recipient.objects.bulk_create(
        Recipient(external_id=f"r-{i}", email=f"r-{i}@example.com", timezone="UTC", locale="en") for i in range(n)
    )
    results = notifications_submit_batch(
        [SubmitRequest(recipient=f"r-{i}", type="monthly_report", data={"month": f"M{i}"}) for i in range(n)]
    )
    assert all(r.ok for r in results)
    return [r.notification.pk for r in results]


def _notification_id(api: str, fields) -> str | None:
    """The notification a delivery at the fake belongs to: the metadata each ESP carries per recipient."""
    if api == POSTMARK:
        return (fields.get("Metadata") or {}).get("notification_id")
    return fields.get("v:notification_id")


@pytest.mark.parametrize("api", [MAILGUN, POSTMARK])
def test_sigkill_in_the_middle_of_esp_batch_calls_loses_nothing(catalogue, fake, start_worker, api):
    ids = queue_reports_to_many(1000)
    concurrency, threads, batch = 2, 2, 100
    env = {
        "COMMHUB_DRAIN_THREADS": str(threads),
        "COMMHUB_LEASE_SECONDS": "2",
        "COMMHUB_ESP_BATCH_SIZE": str(batch),
    }
    if api == POSTMARK:
        env.update(EMAIL_PROVIDER="postmark", EMAIL_API_KEY=fake.postmark_token, EMAIL_API_URL=f"{fake.base_url}/")
    fake.latency = 1.0  # a batch call takes a second: the kill lands inside calls
    first = start_worker(fake, concurrency=concurrency, **env)
    assert wait_until(lambda: len(fake.calls(api)) >= 2 * batch, timeout=60), first.log.read_text()[-3000:]
    time.sleep(0.4)
    os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool children, while calls are in flight
    first.proc.wait(timeout=10)
    held = Notification.objects.filter(pk__in=ids, status=Status.SENDING).count()
    time.sleep(1.2)  # the fake finishes the calls the dead worker made: the ESP has those messages
    fake.latency = 0.01

    start_worker(fake, concurrency=concurrency, **env)

    def recovered() -> bool:
        sweep()  # what beat runs: expired leases back to the queue, queues woken
        return Notification.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids)

    assert wait_until(recovered, timeout=120, interval=1.0)
    per_recipient = Counter(_notification_id(api, r.fields) for r in fake.sent(api))
    duplicates = sum(count - 1 for count in per_recipient.values() if count > 1)
    never = sum(1 for pk in ids if per_recipient[str(pk)] == 0)
    lost = len(ids) - Notification.objects.filter(pk__in=ids, status=Status.SENT).count()
    batched = sum(1 for r in fake.sent(api) if r.batch > 1)
    bound = concurrency * threads * batch
    print(
        f"\nSIGKILL inside batch calls ({held} rows held by the dead pool): {len(ids)} notifications, lost {lost}, "
        f"never sent {never}, duplicate deliveries {duplicates} (bound: {concurrency} processes x {threads} "
        f"sender threads x batch {batch} = {bound}); {batched} of {len(fake.sent(api))} deliveries batched ({api})"
    )
    assert lost == 0 and never == 0
    assert held > 0 and batched > len(ids) // 2  # the kill hit a batching drain
    assert duplicates <= bound
