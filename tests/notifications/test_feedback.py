"""Provider feedback through the real webhooks: anymail's Mailgun tracking view (signature + shared secret) and
Twilio status callbacks (X-Twilio-Signature). Forged or missing credentials change nothing; duplicates and
out-of-order events end in the right state with the cost counted once; a bounce suppresses the next send."""

from decimal import Decimal

import pytest
from twilio.request_validator import RequestValidator

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, ProviderEvent
from preferences.models import ConsentRecord, Suppression
from tests.factories import submit
from tests.fakes.mailgun_webhooks import SECRET, SIGNING_KEY, mailgun_event, post_tracking, tracking_webhooks_on
from tests.fakes.providers import TWILIO

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_with_anymail")]


@pytest.fixture
def webhooks(settings, via_fakes):
    return tracking_webhooks_on(settings, via_fakes)


def sent_email(fake) -> Notification:
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    n.refresh_from_db()
    assert n.status == Status.SENT and n.provider_message_id
    return n


def test_delivered_moves_the_notification_and_a_duplicate_changes_nothing(client, catalogue, recipient, webhooks):
    n = sent_email(webhooks)
    payload = mailgun_event(n, "delivered", token="tok-1")
    assert post_tracking(client, payload).status_code == 200
    assert post_tracking(client, payload).status_code == 200  # Mailgun retries: recorded once
    n.refresh_from_db()
    assert n.status == Status.DELIVERED and n.delivered_at is not None
    assert ProviderEvent.objects.filter(notification=n).count() == 1
    assert n.decision_trace[-1] == {"check": "provider", "outcome": "delivered", "reason": "mailgun reports delivered"}


@pytest.mark.parametrize(
    ("auth", "key"),
    [(None, SIGNING_KEY), (("anymail-user", "wrong"), SIGNING_KEY), (SECRET, "forged-signing-key")],
    ids=["no basic auth", "wrong secret", "forged signature"],
)
def test_forged_or_missing_credentials_are_rejected_and_change_nothing(
    client, catalogue, recipient, webhooks, auth, key
):
    n = sent_email(webhooks)
    response = post_tracking(client, mailgun_event(n, "failed", severity="permanent", key=key), auth=auth)
    assert response.status_code in (400, 401, 403)
    n.refresh_from_db()
    assert n.status == Status.SENT and not ProviderEvent.objects.exists() and not Suppression.objects.exists()


def test_a_hard_bounce_fails_the_message_and_suppresses_the_next_send(client, catalogue, recipient, webhooks):
    n = sent_email(webhooks)
    bounce = mailgun_event(
        n, "failed", severity="permanent", **{"delivery-status": {"description": "550 5.1.1 user unknown"}}
    )
    assert post_tracking(client, bounce).status_code == 200
    n.refresh_from_db()
    assert n.status == Status.FAILED and "550 5.1.1" in n.last_error
    suppression = Suppression.objects.get(address="dana@example.com")
    assert suppression.reason == "bounce" and suppression.source_event["provider"] == "mailgun"
    later = submit(type="monthly_report", data={"month": "June"})
    assert later.status == Status.SUPPRESSED and "hard-bounced" in later.last_error


def test_a_soft_bounce_is_recorded_but_changes_nothing(client, catalogue, recipient, webhooks):
    n = sent_email(webhooks)
    assert post_tracking(client, mailgun_event(n, "failed", severity="temporary")).status_code == 200
    n.refresh_from_db()
    assert n.status == Status.SENT and ProviderEvent.objects.get().event_type == "deferred"
    assert not Suppression.objects.exists()


def test_complaints_and_unsubscribes_suppress_and_withdraw(client, catalogue, recipient, webhooks):
    n = sent_email(webhooks)
    assert post_tracking(client, mailgun_event(n, "unsubscribed")).status_code == 200
    assert Suppression.objects.get().reason == "unsubscribe"
    assert ConsentRecord.objects.get(recipient=n.recipient).source == "provider_event"


def test_out_of_order_events_end_in_the_right_state(client, catalogue, recipient, webhooks):
    n = sent_email(webhooks)
    post_tracking(client, mailgun_event(n, "opened"))  # an open arrives before "delivered"
    post_tracking(client, mailgun_event(n, "delivered"))
    post_tracking(client, mailgun_event(n, "accepted"))  # a late "queued"
    n.refresh_from_db()
    assert n.status == Status.DELIVERED
    assert sorted(ProviderEvent.objects.values_list("event_type", flat=True)) == ["delivered", "opened", "queued"]


def twilio_callback(client, fake, params):
    url = "http://testserver/webhooks/twilio/status"
    signature = RequestValidator(fake.twilio_token).compute_signature(url, params)
    return client.post("/webhooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature)


def sent_sms(fake) -> Notification:
    n = submit()
    queue_drain(queue="sms_critical")
    n.refresh_from_db()
    assert n.status == Status.SENT
    return n


def test_sms_asks_twilio_for_status_callbacks(catalogue, recipient, webhooks, settings):
    sent_sms(webhooks)
    [request] = webhooks.sent(TWILIO)
    assert request.fields["StatusCallback"] == f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status"


def test_twilio_delivery_and_final_price_are_applied_once_in_any_order(client, catalogue, recipient, webhooks):
    n = sent_sms(webhooks)
    assert CostEntry.objects.get(notification=n).amount == Decimal("0.0075")
    base = {"MessageSid": n.provider_message_id, "To": "+14155550123", "AccountSid": webhooks.twilio_sid}
    assert twilio_callback(client, webhooks, {**base, "MessageStatus": "delivered"}).status_code == 204
    priced = {**base, "MessageStatus": "delivered", "Price": "-0.00790", "PriceUnit": "USD"}
    twilio_callback(client, webhooks, priced)  # same sid + status again (with a price now): a duplicate
    assert twilio_callback(client, webhooks, {**base, "MessageStatus": "sent"}).status_code == 204  # late
    n.refresh_from_db()
    assert n.status == Status.DELIVERED
    assert ProviderEvent.objects.filter(notification=n).count() == 2  # delivered, sent
    entry = CostEntry.objects.get(notification=n)
    assert (entry.amount, entry.is_estimate) == (Decimal("0.0075"), True)  # the duplicate was ignored whole
    final = {**base, "MessageStatus": "read", "Price": "-0.00790", "PriceUnit": "USD"}
    twilio_callback(client, webhooks, final)
    twilio_callback(client, webhooks, {**final, "MessageStatus": "read"})
    entry.refresh_from_db()
    n.refresh_from_db()
    assert (entry.amount, entry.is_estimate, n.cost) == (Decimal("0.0079"), False, Decimal("0.0079"))
    assert CostEntry.objects.filter(notification=n).count() == 1


def test_twilio_undelivered_fails_the_message_and_21610_opts_out(client, catalogue, recipient, webhooks):
    n = sent_sms(webhooks)
    params = {
        "MessageSid": n.provider_message_id,
        "MessageStatus": "undelivered",
        "To": "+14155550123",
        "ErrorCode": "21610",
    }
    twilio_callback(client, webhooks, params)
    n.refresh_from_db()
    assert n.status == Status.FAILED and n.error_code == "21610"
    assert Suppression.objects.get(address="+14155550123").reason == "stop"


@pytest.mark.parametrize("signature", ["", "forged"])
def test_twilio_callbacks_without_a_valid_signature_are_403(client, catalogue, recipient, webhooks, signature):
    n = sent_sms(webhooks)
    response = client.post(
        "/webhooks/twilio/status",
        {"MessageSid": n.provider_message_id, "MessageStatus": "delivered"},
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 403
    n.refresh_from_db()
    assert n.status == Status.SENT and not ProviderEvent.objects.exists()


def test_a_callback_with_an_unparseable_number_is_recorded_not_a_500(client, catalogue, recipient, webhooks):
    n = sent_sms(webhooks)
    params = {
        "MessageSid": n.provider_message_id,
        "MessageStatus": "failed",
        "To": "not-a-number",
        "ErrorCode": "21610",
    }
    assert twilio_callback(client, webhooks, params).status_code == 204
    n.refresh_from_db()
    assert n.status == Status.FAILED and ProviderEvent.objects.filter(notification=n).count() == 1
