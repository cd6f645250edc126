"""End to end: one sender's pace holds across two real worker processes (eight sender threads in all) that
share its bucket in Redis, and a critical alert submitted behind a bulk backlog on that sender is not
starved by it; a type's optional cap for everyone together holds across them the same way."""

import time

import pytest
from django.conf import settings

from notifications.constants import Status
from notifications.models import Notification, TypeChannel
from notifications.ratelimit import reset_rate_limits
from notifications.selectors import notification_types
from notifications.services import SubmitRequest, notification_submit, notifications_submit_batch
from tests.conftest import wait_until
from tests.factories import RecipientFactory
from tests.fakes.providers import TWILIO

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis://"), reason="the shared bucket lives in Redis"
    ),
]

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
ALERT = {"amount": "$120.00", "account": "checking"}
PACE = 5  # segments per second on the one sender number


def test_a_sender_pace_holds_across_two_worker_processes_and_critical_is_not_starved(catalogue, fake, start_worker):
    reset_rate_limits()
    for i in range(30):
        RecipientFactory(external_id=f"bulk-{i}", phone=f"+1415555{i:04d}")
    RecipientFactory(external_id="alert", phone="+14155559999")
    env = {"COMMHUB_SENDER_RATES": f"twilio:+15005550006={PACE}", "COMMHUB_DRAIN_THREADS": "4"}
    start_worker(fake, concurrency=2, **env)
    start_worker(fake, concurrency=2, **env)

    results = notifications_submit_batch(
        [SubmitRequest(recipient=f"bulk-{i}", type="payment_reminder", data=REMINDER) for i in range(30)]
    )
    bulk_ids = [r.notification.pk for r in results]
    assert wait_until(lambda: len(fake.sent(TWILIO)) >= 8, timeout=20)  # the backlog is being paced out
    submitted = time.time()
    alert = notification_submit(SubmitRequest(recipient="alert", type="financial_alert", data=ALERT))

    done = (Status.SENT, Status.FAILED)
    assert wait_until(
        lambda: Notification.objects.filter(pk__in=[*bulk_ids, alert.pk], status__in=done).count() == 31, timeout=60
    )
    sent = fake.sent(TWILIO)
    stamps = sorted(r.at for r in sent)
    busiest = max(len([t for t in stamps if s <= t < s + 1.0]) for s in stamps)
    span = stamps[-1] - stamps[0]
    [alert_request] = [r for r in sent if r.fields["To"] == "+14155559999"]
    waited = alert_request.at - submitted
    bulk_after_alert = len([r for r in sent if r.at > alert_request.at])
    print(
        f"\n2 workers x 2 processes x 4 threads, pace {PACE}/s: {len(sent)} sends over {span:.1f}s, "
        f"busiest second {busiest}; critical alert sent {waited:.2f}s after submit, {bulk_after_alert} bulk after it"
    )
    assert len(sent) == 31 and Notification.objects.filter(pk__in=bulk_ids, status=Status.SENT).count() == 30
    assert busiest <= PACE + 1  # evenly spaced: at most one extra at the edges of a window
    assert span >= (31 - 1 - 5) / PACE  # the critical alert may borrow up to the headroom ahead of the pace
    assert waited < 2.5 and bulk_after_alert > 0  # it went ahead of the bulk backlog


CAP = 4  # financial alerts by SMS a minute, everyone together


def test_the_optional_type_cap_holds_across_two_worker_processes(catalogue, fake, start_worker):
    """Two workers share the cap's bucket in Redis: of 12 alerts to 12 people, a burst of CAP goes out, the rest
    wait for room (one every 60/CAP s), whichever worker claims them."""
    reset_rate_limits()
    TypeChannel.objects.filter(notification_type__key="financial_alert", channel="sms").update(
        global_rate_limit_per_minute=CAP
    )
    notification_types.invalidate()
    for i in range(12):
        RecipientFactory(external_id=f"cap-{i}", phone=f"+1415777{i:04d}")
    env = {"COMMHUB_TYPE_RATE_LIMITS": "true", "COMMHUB_DRAIN_THREADS": "4"}
    start_worker(fake, concurrency=2, **env)
    start_worker(fake, concurrency=2, **env)
    results = notifications_submit_batch(
        [SubmitRequest(recipient=f"cap-{i}", type="financial_alert", data=ALERT) for i in range(12)]
    )
    ids = [r.notification.pk for r in results]
    assert wait_until(lambda: len(fake.sent(TWILIO)) >= CAP, timeout=20)
    time.sleep(5)  # long enough for any second worker to overshoot, short of the next unit (15 s)
    assert len(fake.sent(TWILIO)) == CAP
    waiting = Notification.objects.filter(pk__in=ids, status=Status.QUEUED)
    assert waiting.count() == 12 - CAP
    assert all("financial_alert sms 4/min in all reached" in n.decision_trace[-1]["reason"] for n in waiting)
