"""Lifecycle events: what happens to a product backend's notifications, POSTed signed (the receiver verifies with
the standardwebhooks library) to its subscriptions, in order per notification, at least once with the same
webhook-id, written in the transaction of the change (a rollback leaves none); filters; the subscription API
(secret once, field errors, SSRF refusal, deliveries, replay)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from hooks.event_delivery import events_deliver, retry_delay
from hooks.models import EventDelivery, EventSubscription, LifecycleEvent
from hooks.privacy import events_expire
from notifications.delivery import queue_drain
from notifications.models import Notification
from preferences.privacy import recipient_erase
from preferences.services import suppression_add
from tests.factories import RecipientFactory, submit
from tests.fakes.mailgun_webhooks import mailgun_event, post_tracking, tracking_webhooks_on

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_with_anymail")]

REPORT = {"month": "May", "summary": "You saved $240."}


@pytest.fixture
def webhooks(settings, via_fakes):
    return tracking_webhooks_on(settings, via_fakes)


def subscribe(api, receiver, path: str = "/events", **filters) -> dict:
    made = api.post("/api/v1/event-subscriptions/", {"url": f"{receiver.base_url}{path}", **filters}, format="json")
    assert made.status_code == 201, made.content
    return made.json()


def heard(receiver, secret: str) -> list[dict]:
    """What the receiver got, each verified as a Standard Webhooks receiver would (raises on a bad signature)."""
    return [
        Webhook(secret).verify(r.body, r.headers) | {"webhook-id": r.headers["webhook-id"]} for r in receiver.received
    ]


def names_by_notification(events: list[dict]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for e in events:
        seen.setdefault(e["data"]["notification"], []).append(e["type"])
    return seen


def test_delivered_bounced_and_suppressed_sends_produce_exactly_their_events_in_order(
    client, catalogue, recipient, webhooks, receiver, api
):
    secret = subscribe(api, receiver)["secret"]
    RecipientFactory(external_id="gone", email="gone@example.com")
    suppression_add(channel="email", address="gone@example.com", reason="bounce")
    delivered = submit(type="monthly_report", data=REPORT)
    bounced = submit(type="monthly_report", data=REPORT)
    suppressed = submit(recipient="gone", type="monthly_report", data=REPORT)
    queue_drain(queue="email_reports", threads=1)
    delivered.refresh_from_db(), bounced.refresh_from_db()
    assert post_tracking(client, mailgun_event(delivered, "delivered")).status_code == 200
    failure = {"delivery-status": {"description": "550 5.1.1 user unknown"}}
    assert post_tracking(client, mailgun_event(bounced, "failed", severity="permanent", **failure)).status_code == 200

    assert events_deliver() == 8
    events = heard(receiver, secret)
    assert names_by_notification(events) == {
        str(delivered.pk): ["notification.accepted", "notification.sent", "notification.delivered"],
        str(bounced.pk): ["notification.accepted", "notification.sent", "notification.bounced"],
        str(suppressed.pk): ["notification.accepted", "notification.suppressed"],
    }
    by_type = {(e["data"]["notification"], e["type"]): e for e in events}
    sent = by_type[(str(delivered.pk), "notification.sent")]
    assert sent["data"] | {"notification": "-"} == {
        "notification": "-",
        "notification_type": "monthly_report",
        "channel": "email",
        "recipient": "123",
        "provider_message_id": delivered.provider_message_id,
    }
    assert sent["id"] == sent["webhook-id"] and sent["id"].startswith("evt_")
    assert "550 5.1.1 user unknown" in by_type[(str(bounced.pk), "notification.bounced")]["data"]["reason"]
    assert by_type[(str(suppressed.pk), "notification.suppressed")]["data"]["error_code"] == "suppressed_bounce"
    assert len({e["id"] for e in events}) == 8  # one id per event
    assert events_deliver() == 0 and len(receiver.received) == 8  # nothing twice
    assert set(EventDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_opens_and_clicks_are_events_too(client, catalogue, recipient, webhooks, receiver, api):
    secret = subscribe(api, receiver, events=["opened", "notification.clicked"])["secret"]
    n = submit(type="monthly_report", data=REPORT)
    queue_drain(queue="email_reports", threads=1)
    n.refresh_from_db()
    post_tracking(client, mailgun_event(n, "opened"))
    post_tracking(client, mailgun_event(n, "clicked", url="https://bank.example/report"))
    events_deliver()
    events = heard(receiver, secret)
    assert [e["type"] for e in events] == ["notification.opened", "notification.clicked"]
    assert events[1]["data"]["url"] == "https://bank.example/report"


def test_a_rolled_back_submit_leaves_no_event(catalogue, recipient, receiver, api, via_fakes):
    subscribe(api, receiver)
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(type="monthly_report", data=REPORT)
        assert LifecycleEvent.objects.count() == 1  # written with the row...
        raise RuntimeError("the product's own transaction fails")
    assert not Notification.objects.exists()
    assert not LifecycleEvent.objects.exists() and not EventDelivery.objects.exists()  # ...and gone with it
    assert events_deliver() == 0 and receiver.received == []


def test_failures_are_retried_with_the_same_webhook_id_and_later_events_wait_their_turn(
    catalogue, recipient, receiver, api, via_fakes, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.05
    secret = subscribe(api, receiver)["secret"]
    receiver.answer("/events", 500, times=3)
    n = submit(type="monthly_report", data=REPORT)
    queue_drain(queue="email_reports", threads=1)  # accepted and sent are both waiting now
    for _ in range(100):  # the worker's passes, as the backoff lets them
        events_deliver()
        if len(receiver.received) >= 5:
            break
        time.sleep(0.05)
    assert [r.status for r in receiver.received] == [500, 500, 500, 200, 200]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids[:4])) == 1 and ids[4] != ids[0]  # the retries carry the first attempt's id
    assert [e["type"] for e in heard(receiver, secret)] == ["notification.accepted"] * 4 + ["notification.sent"]
    first = EventDelivery.objects.get(event__name="accepted")
    assert (first.state, first.attempts, first.last_answer) == ("delivered", 4, 'answered 200: {"ok": true}')
    subscription = EventSubscription.objects.get()
    assert subscription.failing_since is None and subscription.last_success_at is not None
    assert str(n.pk) in {json.loads(r.body)["data"]["notification"] for r in receiver.received}


def test_retry_after_and_backoff_decide_the_next_attempt(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS = 10, 300
    assert 5 <= retry_delay(1) <= 10 and 20 <= retry_delay(3) <= 40
    assert 150 <= retry_delay(20) <= 300  # capped
    assert retry_delay(1, retry_after=120) == 120  # the receiver's Retry-After, when longer
    assert retry_delay(1, retry_after=10_000) == 300  # but never past the cap


def test_a_refusal_fails_the_event_for_good_and_the_next_one_goes(catalogue, recipient, receiver, api, via_fakes):
    subscribe(api, receiver)
    receiver.answer("/events", 400)
    submit(type="monthly_report", data=REPORT)
    queue_drain(queue="email_reports", threads=1)
    events_deliver()
    assert [r.status for r in receiver.received] == [400, 200]
    states = dict(EventDelivery.objects.values_list("event__name", "state"))
    assert states == {"accepted": "failed", "sent": "delivered"}


def test_filters_choose_the_events_types_and_channels(catalogue, recipient, receiver, api, via_fakes):
    secret = subscribe(api, receiver, events=["sent"], notification_types=["financial_alert"], channels=["sms"])[
        "secret"
    ]
    submit()  # a financial alert, by SMS
    submit(type="monthly_report", data=REPORT)  # another type
    queue_drain(queue="sms_critical", threads=1)
    queue_drain(queue="email_reports", threads=1)
    events_deliver()
    assert [(e["type"], e["data"]["channel"]) for e in heard(receiver, secret)] == [("notification.sent", "sms")]


def test_with_no_subscription_nothing_is_written(catalogue, recipient, via_fakes):
    submit()
    queue_drain(queue="sms_critical", threads=1)
    assert not LifecycleEvent.objects.exists()


def test_a_410_disables_the_subscription_and_its_events_wait_for_it(catalogue, recipient, receiver, api, via_fakes):
    made = subscribe(api, receiver)
    receiver.answer("/events", 410)
    submit()
    events_deliver()
    subscription = EventSubscription.objects.get()
    assert not subscription.enabled and "410" in subscription.disabled_reason
    assert EventDelivery.objects.get().state == "pending"
    assert events_deliver() == 0  # nothing goes to a disabled subscription
    assert api.patch(f"/api/v1/event-subscriptions/{made['id']}/", {"enabled": True}, format="json").status_code == 200
    assert events_deliver() == 1 and [r.status for r in receiver.received] == [410, 200]


def test_an_endpoint_failing_too_long_is_disabled_and_staff_are_told(
    catalogue, recipient, receiver, api, via_fakes, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 1
    made = subscribe(api, receiver)
    receiver.answer("/events", 503, times=2)
    submit()
    events_deliver()
    subscription = EventSubscription.objects.get()
    assert subscription.enabled and subscription.failing_since is not None
    EventSubscription.objects.update(failing_since=timezone.now() - timedelta(hours=2))  # failing since then
    EventDelivery.objects.update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):  # the alert goes after the failure is committed
        events_deliver()
    subscription.refresh_from_db()
    assert not subscription.enabled and subscription.disabled_reason.startswith("failing for over 1 h")
    (alert,) = Notification.objects.filter(notification_type__key="staff_alert")
    assert alert.data["subject"] == f"Event subscription disabled: {made['url']}"
    assert "(lifecycle events)" in alert.data["message"]


def test_the_api_gives_the_secret_once_and_refuses_bad_filters_and_unsafe_urls(api, catalogue, receiver, settings):
    made = subscribe(api, receiver, events=["notification.sent", "failed"])
    assert made["secret"].startswith("whsec_") and made["events"] == ["failed", "sent"]
    shown = api.get(f"/api/v1/event-subscriptions/{made['id']}/").json()
    assert "secret" not in shown and shown["url"].endswith("/events")
    bad = api.post(
        "/api/v1/event-subscriptions/",
        {"url": f"{receiver.base_url}/x", "events": ["sent", "exploded"], "notification_types": ["nope"]},
        format="json",
    )
    assert bad.status_code == 400
    assert "exploded" in bad.json()["events"][0] and "nope" in bad.json()["notification_types"][0]
    settings.WEBHOOK_ALLOWED_HOSTS = []
    unsafe = api.post("/api/v1/event-subscriptions/", {"url": "http://169.254.169.254/latest"}, format="json")
    assert unsafe.status_code == 400 and "url" in unsafe.json()
    rotated = api.post(f"/api/v1/event-subscriptions/{made['id']}/rotate-secret/").json()
    assert rotated["secret"] != made["secret"] and rotated["previous_secret_until"]


def test_deliveries_are_listed_and_failed_ones_replayed_by_range(catalogue, recipient, receiver, api, via_fakes):
    made = subscribe(api, receiver)
    receiver.answer("/events", 422, times=2)
    submit()
    queue_drain(queue="sms_critical", threads=1)
    events_deliver()
    listed = api.get(f"/api/v1/event-subscriptions/{made['id']}/deliveries/?state=failed").json()["results"]
    assert [(d["type"], d["attempts"], d["last_answer"]) for d in listed] == [
        ("notification.sent", 1, 'answered 422: {"error": "scripted"}'),
        ("notification.accepted", 1, 'answered 422: {"error": "scripted"}'),
    ]
    refused = api.post(f"/api/v1/event-subscriptions/{made['id']}/replay/", {}, format="json")
    assert refused.status_code == 400 and "events" in refused.json()
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    replay = api.post(f"/api/v1/event-subscriptions/{made['id']}/replay/", {"since": since}, format="json")
    assert replay.status_code == 202 and replay.json() == {"replayed": 2}
    events_deliver()
    assert [r.status for r in receiver.received] == [422, 422, 200, 200]
    assert receiver.received[0].headers["webhook-id"] == receiver.received[2].headers["webhook-id"]
    one = api.post(
        f"/api/v1/event-subscriptions/{made['id']}/replay/",
        {"events": [listed[0]["event"]], "states": ["delivered"]},
        format="json",
    )
    assert one.json() == {"replayed": 1}


def test_the_subscription_api_names_its_permissions(api_without_perms, catalogue):
    assert api_without_perms.get("/api/v1/event-subscriptions/").status_code == 403
    denied = api_without_perms.post("/api/v1/event-subscriptions/", {"url": "https://x.example/"}, format="json")
    assert denied.status_code == 403


def test_erasure_deletes_finished_events_and_blanks_waiting_ones(catalogue, recipient, receiver, api, via_fakes):
    subscribe(api, receiver)
    receiver.answer("/events", 503)  # the first event waits for a retry
    submit()
    queue_drain(queue="sms_critical", threads=1)
    events_deliver()
    assert dict(EventDelivery.objects.values_list("event__name", "state")) == {"accepted": "pending", "sent": "pending"}
    EventDelivery.objects.filter(event__name="sent").update(state="delivered")
    recipient_erase(recipient=recipient, actor="test")
    (waiting,) = LifecycleEvent.objects.all()  # the delivered one is gone
    assert waiting.name == "accepted" and waiting.payload["data"]["recipient"] == "(erased)"
    assert "123" not in json.dumps(waiting.payload)


def test_finished_events_are_deleted_after_their_retention(catalogue, recipient, receiver, api, via_fakes, settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    subscribe(api, receiver)
    submit()
    events_deliver()
    assert events_expire(now=timezone.now() + timedelta(days=29)) == 0
    assert events_expire(now=timezone.now() + timedelta(days=31)) == 1
    assert not LifecycleEvent.objects.exists() and not EventDelivery.objects.exists()
