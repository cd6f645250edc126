"""The push channel through the real protocols: Web Push (pywebpush, VAPID, aes128gcm) and FCM HTTP v1
(google-auth) against a local push service that checks and decrypts what it gets as the real ones do."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from push.fcm import _outcome
from push.models import DeviceToken, PushSubscription
from tests.conftest import client_for
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db
SIGN_IN = {"event": "New sign-in from Firefox on Linux", "review_url": "https://app.example.com/security/42"}


def drain(n: Notification) -> Notification:
    queue_drain(queue=n.queue, threads=1)
    n.refresh_from_db()
    return n


def subscribe(who: str, browser) -> dict:
    answer = client_for(who).post("/api/v1/me/push/subscriptions/", browser.subscription_json(), format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def trace_of(n: Notification, check: str) -> list[str]:
    return [f"{s['outcome']}: {s['reason']}" for s in n.decision_trace if s["check"] == check]


def test_a_push_reaches_the_browser_signed_and_encrypted_and_a_410_forgets_it_so_the_next_goes_by_sms(
    catalogue, push_service
):
    RecipientFactory(external_id="dana", phone="+14155550123")
    browser = push_service.browser()
    subscribe("dana", browser)

    n = submit(recipient="dana", type="security_alert", data=SIGN_IN)
    assert (n.channel, n.status) == ("push", Status.QUEUED), n.decision_trace
    n = drain(n)
    assert (n.status, n.provider) == (Status.SENT, "push"), n.last_error
    (push,) = push_service.pushes
    assert push.status == 201 and not push.problem
    # the push service checked the VAPID JWT: signed by our key, for its own origin, expiring within 24 h
    assert push.claims["aud"] == push_service.base_url and push.claims["sub"] == "mailto:push-ops@example.com"
    assert time.time() < push.claims["exp"] <= time.time() + 24 * 3600
    assert push.headers["urgency"] == "high"  # a critical type
    # ... and the browser's private key decrypts exactly the rendered notification
    assert push.payload == {
        "title": "New sign-in from Firefox on Linux",
        "body": "Was this you? If not, secure your account now.",
        "url": "https://app.example.com/security/42",
        "notification": str(n.pk),
    }
    assert n.rendered_body == push.payload["body"]
    assert CostEntry.objects.get(notification=n).amount == 0  # priced (at zero) like any channel
    assert PushSubscription.objects.get().last_sent_at is not None

    # the browser unsubscribed: its push service answers 410 Gone
    push_service.answer(urlsplit(browser.endpoint).path, 410)
    gone = drain(submit(recipient="dana", type="security_alert", data=SIGN_IN))
    assert gone.status == Status.FAILED and "gone" in gone.last_error, gone.last_error
    assert not PushSubscription.objects.exists()
    by_sms = Notification.objects.get(fallback_of=gone)  # this message still reaches dana, by SMS
    assert by_sms.channel == "sms" and drain(by_sms).status == Status.SENT

    # the next alert is decided for SMS at once: there is nothing left to push to
    later = submit(recipient="dana", type="security_alert", data=SIGN_IN)
    assert later.channel == "sms" and later.status == Status.QUEUED
    assert "skip: recipient has no push subscription for push" in trace_of(later, "channel")


def test_every_browser_gets_it_a_throttled_one_is_kept_and_a_message_nobody_took_is_retried(catalogue, push_service):
    RecipientFactory(external_id="erin", phone="")
    laptop, phone = push_service.browser(), push_service.browser()
    subscribe("erin", laptop)
    subscribe("erin", phone)
    push_service.answer(urlsplit(phone.endpoint).path, 503)
    n = drain(submit(recipient="erin", type="security_alert", data=SIGN_IN))
    assert n.status == Status.SENT  # the laptop took it
    assert sorted(p.status for p in push_service.pushes) == [201, 503]
    assert PushSubscription.objects.count() == 2  # a 503 is the service's trouble, not a dead subscription

    push_service.answer(urlsplit(laptop.endpoint).path, 429)
    push_service.answer(urlsplit(phone.endpoint).path, 500)
    retried = drain(submit(recipient="erin", type="security_alert", data=SIGN_IN))
    assert retried.status == Status.PENDING and retried.attempts == 1, retried.last_error  # back for a retry
    assert retried.send_at > retried.created_at and PushSubscription.objects.count() == 2


def test_a_push_signed_with_another_key_is_refused_by_the_push_service(catalogue, push_service, settings):
    from push.vapid import generate_pair

    RecipientFactory(external_id="finn", phone="")
    subscribe("finn", push_service.browser())
    settings.VAPID_PRIVATE_KEY = generate_pair()[0]  # rotated: old subscriptions were made for the old key
    n = drain(submit(recipient="finn", type="security_alert", data=SIGN_IN))
    assert push_service.pushes[0].status == 401 and "not made for" in push_service.pushes[0].problem
    assert n.status == Status.FAILED and "401" in n.last_error
    assert PushSubscription.objects.count() == 1  # our key's problem: the browser is not forgotten


def test_fcm_reuses_its_access_token_until_it_expires_and_forgets_an_unregistered_token(catalogue, push_service):
    RecipientFactory(external_id="gus", phone="+14155550199")
    answer = client_for("gus").post("/api/v1/me/push/devices/", {"token": "fcm-token-A", "platform": "android"})
    assert answer.status_code == 201, answer.content
    # google-auth refreshes 3 min 45 s before expiry: a token for 3 min 50 s is reusable for about 5 s
    push_service.token_lifetime = 230
    started = time.monotonic()
    first = drain(submit(recipient="gus", type="security_alert", data=SIGN_IN))
    second = drain(submit(recipient="gus", type="security_alert", data=SIGN_IN))
    assert time.monotonic() - started < 5, "the machine is too slow for this token lifetime"
    assert first.status == second.status == Status.SENT
    assert len(push_service.token_requests) == 1
    a, b = push_service.fcm_sends
    assert a.access_token == b.access_token and a.status == 200
    claims = push_service.token_requests[0]
    assert claims["iss"] == "commhub@commhub-fake.iam.gserviceaccount.com"
    assert a.message["token"] == "fcm-token-A" and a.message["android"]["priority"] == "high"
    assert a.message["notification"] == {
        "title": "New sign-in from Firefox on Linux",
        "body": "Was this you? If not, secure your account now.",
    }
    assert a.message["data"] == {"notification_id": str(first.pk), "url": "https://app.example.com/security/42"}

    time.sleep(max(0.0, 5.5 - (time.monotonic() - started)))
    assert drain(submit(recipient="gus", type="security_alert", data=SIGN_IN)).status == Status.SENT
    assert len(push_service.token_requests) == 2 and push_service.fcm_sends[2].access_token != a.access_token

    push_service.fcm_errors["fcm-token-A"] = "UNREGISTERED"  # the app was uninstalled
    gone = drain(submit(recipient="gus", type="security_alert", data=SIGN_IN))
    assert gone.status == Status.FAILED and not DeviceToken.objects.exists()
    assert Notification.objects.get(fallback_of=gone).channel == "sms"


def test_fcm_unavailable_is_retried_and_the_token_kept_and_an_invalid_token_is_forgotten(catalogue, push_service):
    RecipientFactory(external_id="hana", phone="")
    client_for("hana").post("/api/v1/me/push/devices/", {"token": "fcm-token-B"})
    push_service.answer("fcm-token-B", 503)
    n = drain(submit(recipient="hana", type="security_alert", data=SIGN_IN))
    assert n.status == Status.PENDING and n.attempts == 1 and "UNAVAILABLE" in n.last_error
    assert DeviceToken.objects.count() == 1

    push_service.fcm_errors["fcm-token-B"] = "INVALID_ARGUMENT"  # FCM: not a valid registration token
    assert drain(submit(recipient="hana", type="security_alert", data=SIGN_IN)).status == Status.FAILED
    assert not DeviceToken.objects.exists()


def test_an_invalid_argument_about_the_message_keeps_the_token():
    answer = requests.Response()
    answer.status_code, answer._content = (
        400,
        json.dumps(
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "Invalid value at 'message.data[0].value'",
                }
            }
        ).encode(),
    )
    outcome = _outcome(answer)
    assert (outcome.kind, outcome.code) == ("permanent", "INVALID_ARGUMENT")


def test_a_push_service_asking_to_wait_is_retried_no_sooner(catalogue, push_service):
    RecipientFactory(external_id="ike", phone="")
    browser = push_service.browser()
    subscribe("ike", browser)
    push_service.answer(urlsplit(browser.endpoint).path, 429)
    push_service.headers_for[urlsplit(browser.endpoint).path] = {"Retry-After": "1200"}
    n = drain(submit(recipient="ike", type="security_alert", data=SIGN_IN))
    assert n.status == Status.PENDING and "429" in n.last_error
    assert 1180 < (n.send_at - n.updated_at).total_seconds() <= 1200
