"""The webhook channel: a person's notification POSTed to their endpoints, signed (the receiver verifies it with the
standardwebhooks library), priced and traced; retried with the same webhook-id; a 410 disables the endpoint and
the message falls back per its type; the endpoint API hands the secret out once and rotates it with an overlap."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from costs.models import CostEntry
from hooks.models import WebhookEndpoint
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from notifications.tasks import dispatch_due
from templates_app.models import Template
from templates_app.services import version_create
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db


def register(api, receiver, who: str = "acme", path: str = "/in") -> dict:
    made = api.post(
        "/api/v1/webhook-endpoints/", {"recipient": who, "url": f"{receiver.base_url}{path}"}, format="json"
    )
    assert made.status_code == 201, made.content
    return made.json()


def drain(n: Notification) -> Notification:
    queue_drain(queue=n.queue, threads=1)
    n.refresh_from_db()
    return n


def test_a_notification_reaches_the_persons_endpoint_signed_priced_and_traced(partner_update, receiver, api):
    RecipientFactory(external_id="acme", email="ops@acme.example")
    endpoint = register(api, receiver)
    assert endpoint["secret"].startswith("whsec_")
    n = submit(recipient="acme", type="partner_update", data={"event": 'invoice "7" paid'})
    assert (n.channel, n.status) == ("webhook", Status.QUEUED)
    assert {"check": "channel", "outcome": "pass", "reason": "webhook is partner_update's default channel"} in (
        n.decision_trace
    )
    n = drain(n)
    assert (n.status, n.provider, n.provider_message_id) == (Status.SENT, "webhook", f"msg_{n.pk}")
    (got,) = receiver.received
    assert Webhook(endpoint["secret"]).verify(got.body, got.headers) == {"event": 'invoice "7" paid', "account": "acme"}
    assert got.headers["webhook-id"] == f"msg_{n.pk}"
    entry = CostEntry.objects.get(notification=n)
    assert (entry.channel, entry.amount, entry.currency) == ("webhook", Decimal("0.0004"), "USD")
    assert WebhookEndpoint.objects.get().last_success_at is not None


def test_a_5xx_is_retried_with_the_same_webhook_id(partner_update, receiver, api):
    RecipientFactory(external_id="acme", email="")
    register(api, receiver)
    receiver.answer("/in", 503)
    n = drain(submit(recipient="acme", type="partner_update", data={"event": "e1"}))
    assert n.status == Status.PENDING and "answered 503" in n.last_error
    Notification.objects.filter(pk=n.pk).update(send_at=n.created_at)  # its retry is due
    dispatch_due()
    assert drain(n).status == Status.SENT
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{n.pk}"
    assert first.body == second.body


def test_a_410_disables_the_endpoint_and_the_message_falls_back_to_email(partner_update, receiver, api):
    RecipientFactory(external_id="acme", email="ops@acme.example")
    register(api, receiver)
    receiver.answer("/in", 410)
    gone = drain(submit(recipient="acme", type="partner_update", data={"event": "e2"}))
    assert gone.status == Status.FAILED and "answered 410" in gone.last_error
    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.enabled and "answered 410" in endpoint.disabled_reason
    by_email = Notification.objects.get(fallback_of=gone)
    assert by_email.channel == "email" and drain(by_email).status == Status.SENT
    later = submit(recipient="acme", type="partner_update", data={"event": "e3"})
    assert later.channel == "email"  # no enabled endpoint left: decided at submit, with the reason in the trace
    assert any(s["reason"] == "recipient has no webhook endpoint for webhook" for s in later.decision_trace)


def test_no_text_sends_the_envelope_and_text_that_is_not_json_is_refused_at_save(partner_update, receiver, api):
    RecipientFactory(external_id="acme", email="")
    register(api, receiver)
    template = Template.objects.get(notification_type=partner_update, channel="webhook")
    variables = [{"name": "event", "type": "string", "required": True, "sample": "x"}]
    with pytest.raises(Exception, match="not JSON"):
        version_create(template=template, text="event: {{ event }}", variables=variables)
    with pytest.raises(Exception, match="not an object"):
        version_create(template=template, text="[{{ event | tojson }}]", variables=variables)


def test_the_endpoint_api_shows_the_secret_once_rotates_it_and_scopes_by_person(partner_update, receiver, api):
    first = register(api, receiver, who="acme")
    register(api, receiver, who="globex", path="/g")
    listed = api.get("/api/v1/webhook-endpoints/", {"recipient": "acme"}).json()
    assert [e["id"] for e in listed["results"]] == [first["id"]] and "secret" not in listed["results"][0]
    rotated = api.post(f"/api/v1/webhook-endpoints/{first['id']}/rotate-secret/").json()
    assert rotated["secret"] != first["secret"] and rotated["previous_secret_until"]
    n = drain(submit(recipient="acme", type="partner_update", data={"event": "rotated"}))
    assert n.status == Status.SENT
    got = receiver.received[-1]
    for secret in (first["secret"], rotated["secret"]):  # both verify during the overlap
        Webhook(secret).verify(got.body, got.headers)
    off = api.patch(f"/api/v1/webhook-endpoints/{first['id']}/", {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False
    bad = api.patch(f"/api/v1/webhook-endpoints/{first['id']}/", {"url": "https://127.0.0.2/x"}, format="json")
    assert bad.status_code == 400 and "loopback" in json.dumps(bad.json())
    assert api.delete(f"/api/v1/webhook-endpoints/{first['id']}/").status_code == 204


def test_a_429_with_retry_after_waits_as_long_as_the_endpoint_asked(partner_update, receiver, api):
    RecipientFactory(external_id="acme", email="")
    register(api, receiver)
    receiver.answer("/in", 429, {"Retry-After": "900"})
    n = drain(submit(recipient="acme", type="partner_update", data={"event": "slow down"}))
    assert n.status == Status.PENDING and "answered 429" in n.last_error
    waits = (n.send_at - timezone.now()).total_seconds()
    assert 880 < waits <= 900  # its own backoff (about a minute) would have been shorter
    assert "retry in 900s" in n.decision_trace[-1]["reason"]


def test_an_endpoint_failing_for_days_is_disabled_and_staff_are_told_once(
    partner_update, receiver, api, django_capture_on_commit_callbacks
):
    RecipientFactory(external_id="acme", email="ops@acme.example")
    made = register(api, receiver)
    receiver.answer("/in", 503, times=2)
    first = drain(submit(recipient="acme", type="partner_update", data={"event": "e1"}))
    endpoint = WebhookEndpoint.objects.get()
    assert first.status == Status.PENDING and endpoint.enabled and endpoint.failing_since is not None
    # it has answered nothing but failures since four days ago
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
    with django_capture_on_commit_callbacks(execute=True):  # the alert goes after the failure is committed
        drain(submit(recipient="acme", type="partner_update", data={"event": "e2"}))
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason.startswith("failing for over 72 h")
    (alert,) = Notification.objects.filter(notification_type__key="staff_alert")
    assert alert.recipient.external_id == "staff" and made["url"] in alert.data["message"]
    assert alert.data["subject"] == f"Webhook endpoint disabled: {made['url']}"
    # enabled again: the streak starts afresh (a failure does not disable it at once), a success clears it
    api.patch(f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"enabled": True}, format="json")
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is None and endpoint.disabled_reason == ""
    assert drain(submit(recipient="acme", type="partner_update", data={"event": "e3"})).status == Status.SENT
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is None
    assert Notification.objects.filter(notification_type__key="staff_alert").count() == 1
