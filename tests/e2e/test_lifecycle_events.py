"""Lifecycle events end to end: a real worker sends the notifications through the fake Mailgun and delivers their
events to a local receiver, which fails three times before it answers; provider feedback arrives through anymail's
real webhook view. Each event arrives at least once, in order per notification, retries with the same webhook-id;
a rolled-back submit leaves nothing to deliver."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from standardwebhooks import Webhook

from hooks.models import LifecycleEvent
from notifications.constants import Status
from notifications.models import Notification
from preferences.services import suppression_add
from tests.conftest import wait_until
from tests.factories import RecipientFactory, submit
from tests.fakes.mailgun_webhooks import mailgun_event, post_tracking, tracking_webhooks_on
from tests.fakes.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.urls_with_anymail")]

REPORT = {"month": "May", "summary": "You saved $240."}


@pytest.fixture
def receiver(settings):
    fake = Receiver().start()
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield fake
    fake.stop()


def test_events_reach_a_flaky_receiver_once_each_in_order_with_stable_ids(
    client, api, catalogue, recipient, fake, settings, receiver, start_worker
):
    tracking_webhooks_on(settings, fake)
    made = api.post("/api/v1/event-subscriptions/", {"url": f"{receiver.base_url}/events"}, format="json").json()
    receiver.answer("/events", 500, times=3)
    start_worker(fake, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", WEBHOOK_RETRY_BASE_SECONDS="0.3")
    RecipientFactory(external_id="gone", email="gone@example.com")
    suppression_add(channel="email", address="gone@example.com", reason="bounce")
    delivered = submit(type="monthly_report", data=REPORT)
    bounced = submit(type="monthly_report", data=REPORT)
    suppressed = submit(recipient="gone", type="monthly_report", data=REPORT)
    sent = Notification.objects.filter(pk__in=[delivered.pk, bounced.pk], status=Status.SENT)
    assert wait_until(lambda: sent.count() == 2, timeout=30)
    delivered.refresh_from_db(), bounced.refresh_from_db()
    assert post_tracking(client, mailgun_event(delivered, "delivered")).status_code == 200
    assert post_tracking(client, mailgun_event(bounced, "failed", severity="permanent")).status_code == 200

    taken = lambda: [r for r in receiver.received if r.status == 200]  # noqa: E731
    assert wait_until(lambda: len(taken()) >= 8, timeout=60), [r.status for r in receiver.received]
    time.sleep(1)  # anything more would arrive now
    events = [Webhook(made["secret"]).verify(r.body, r.headers) for r in taken()]
    by_notification: dict[str, list[str]] = {}
    for event in events:
        by_notification.setdefault(event["data"]["notification"], []).append(
            event["type"].removeprefix("notification.")
        )
    assert by_notification == {
        str(delivered.pk): ["accepted", "sent", "delivered"],
        str(bounced.pk): ["accepted", "sent", "bounced"],
        str(suppressed.pk): ["accepted", "suppressed"],
    }
    assert len({e["id"] for e in events}) == 8
    statuses = [r.status for r in receiver.received]
    assert statuses.count(500) == 3 and statuses.count(200) == 8
    attempts: dict[str, list] = {}
    for r in receiver.received:
        attempts.setdefault(r.headers["webhook-id"], []).append(r)
    assert len(attempts) == 8  # a retry is the same event: same id...
    for tries in attempts.values():
        assert [t.status for t in tries][-1] == 200 and [t.status for t in tries].count(200) == 1
        assert len({t.body for t in tries}) == 1  # ...and the same body

    with pytest.raises(RuntimeError), transaction.atomic():
        rolled_back = submit(type="monthly_report", data=REPORT)
        raise RuntimeError("the caller's transaction fails")
    time.sleep(2)
    assert not LifecycleEvent.objects.filter(notification_id=rolled_back.pk).exists()
    assert len(receiver.received) == 11  # nothing more was sent
