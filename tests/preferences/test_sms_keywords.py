"""SMS keywords through the signed Twilio inbound webhook, and the re-check that makes a STOP win over
messages already waiting in the queue. SMS goes through the real Twilio client to the local fake."""

import uuid

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from notifications.constants import Status
from notifications.delivery import notification_deliver, notifications_claim, queue_drain
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from preferences.models import ConsentRecord, Suppression
from tests.factories import RecipientFactory, grant_marketing, submit
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db

URL = "http://testserver/webhooks/twilio/inbound"
PHONE = "+14155550123"
REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}


def inbound(client, fake, body: str, *, phone: str = PHONE, sid: str | None = None, signature: str | None = None):
    params = {"From": phone, "To": "+15005550006", "Body": body, "MessageSid": sid or f"SM{uuid.uuid4().hex}"}
    if signature is None:
        signature = RequestValidator(fake.twilio_token).compute_signature(URL, params)
    return client.post("/webhooks/twilio/inbound", params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_stop_while_100_sms_wait_in_the_queue_none_reaches_the_provider(client, catalogue, via_fakes):
    RecipientFactory(external_id="123", phone=PHONE)
    RecipientFactory(external_id="other", phone="+14155550199")
    results = notifications_submit_batch(
        [SubmitRequest(recipient="123", type="payment_reminder", data=REMINDER) for _ in range(100)]
        + [SubmitRequest(recipient="other", type="payment_reminder", data=REMINDER)]
    )
    assert all(r.ok and r.notification.status == Status.QUEUED for r in results)

    response = inbound(client, via_fakes, "  stop ")
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"

    drained = queue_drain(queue="sms_daily")
    sent_to = [r.fields["To"] for r in via_fakes.sent(TWILIO)]
    print(f"\nSTOP with 100 queued: {drained.suppressed} suppressed, provider calls to {PHONE}: {sent_to.count(PHONE)}")
    assert sent_to == ["+14155550199"]  # the other recipient is unaffected
    assert drained.suppressed == 100
    rows = Notification.objects.filter(recipient__external_id="123")
    assert rows.filter(status=Status.SUPPRESSED).count() == 100
    for n in rows:
        last = n.decision_trace[-1]
        assert (last["check"], last["outcome"]) == ("suppression", "refuse")
        assert last["reason"].startswith("re-checked before sending: suppressed: phone +14155…23 replied STOP at ")
        assert n.attempts == 0 and n.error_code == "suppressed_stop"


def test_a_stop_after_the_claim_still_wins_just_before_the_provider_call(catalogue, via_fakes):
    RecipientFactory(external_id="123", phone=PHONE)
    n = submit(type="payment_reminder", data=REMINDER)
    token = uuid.uuid4()
    [claimed] = notifications_claim(queue="sms_daily", limit=1, token=token, now=timezone.now())
    from preferences.services import sms_opt_out

    sms_opt_out(phone=PHONE, keyword="STOP", reference="SMtest")  # arrives while the worker holds the row
    from notifications.channels.providers import provider_for

    assert notification_deliver(claimed, provider=provider_for("sms"), token=token) == Status.SUPPRESSED
    assert via_fakes.sent(TWILIO) == []
    assert Notification.objects.get(pk=n.pk).status == Status.SUPPRESSED


@pytest.mark.parametrize("word", ["STOP", "stopall", " Unsubscribe ", "CANCEL", "end", "QUIT", "revoke", "OPTOUT"])
def test_every_opt_out_keyword_withdraws_sms_consent_and_suppresses_the_number(client, catalogue, via_fakes, word):
    recipient = RecipientFactory(external_id="123", phone=PHONE)
    grant_marketing(recipient, "sms")
    assert inbound(client, via_fakes, word).status_code == 200
    suppression = Suppression.objects.get(address=PHONE, lifted_at__isnull=True)
    assert suppression.reason == "stop"
    latest = {
        r.purpose: r.action for r in ConsentRecord.objects.filter(recipient=recipient, channel="sms").order_by("pk")
    }
    assert latest == {"marketing": "withdrawn", "transactional": "withdrawn"}


def test_start_restores_what_stop_withdrew_and_nothing_more(client, catalogue, via_fakes):
    subscribed = RecipientFactory(external_id="123", phone=PHONE)
    grant_marketing(subscribed, "sms")
    inbound(client, via_fakes, "STOP")
    inbound(client, via_fakes, "start")
    assert not Suppression.objects.filter(address=PHONE, lifted_at__isnull=True).exists()
    lifted = Suppression.objects.get(address=PHONE)
    assert lifted.lifted_by == "sms keyword" and lifted.lift_reason.startswith("START")
    n = submit(type="weekly_checkin", data={})  # marketing consent is back, so it is not refused
    assert n.status != Status.SUPPRESSED, n.decision_trace

    never_agreed = RecipientFactory(external_id="456", phone="+14155550188")
    inbound(client, via_fakes, "STOP", phone="+14155550188")
    inbound(client, via_fakes, "UNSTOP", phone="+14155550188")
    m = submit(recipient="456", type="weekly_checkin", data={})
    assert m.status == Status.SUPPRESSED and "consent for marketing sms (engagement) withdrawn" in m.last_error
    assert submit(recipient="456", type="payment_reminder", data=REMINDER).status == Status.QUEUED
    marketing = never_agreed.consent_records.filter(purpose="marketing")
    assert list(marketing.values_list("action", flat=True)) == ["withdrawn"]  # the STOP, and no grant after it


def test_help_gets_the_configured_reply_and_changes_nothing(client, catalogue, via_fakes, settings):
    settings.COMMHUB = {**settings.COMMHUB, "SMS_HELP_REPLY": "Acme alerts. Reply STOP to opt out."}
    RecipientFactory(external_id="123", phone=PHONE)
    response = inbound(client, via_fakes, "help")
    assert response.status_code == 200
    assert b"<Message>Acme alerts. Reply STOP to opt out.</Message>" in response.content
    assert not Suppression.objects.exists() and not ConsentRecord.objects.exists()


def test_other_text_is_ignored(client, catalogue, via_fakes):
    RecipientFactory(external_id="123", phone=PHONE)
    assert inbound(client, via_fakes, "please stop calling me at work").status_code == 200
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "forged"])
def test_a_missing_or_bad_signature_is_403_and_changes_nothing(client, catalogue, via_fakes, signature):
    RecipientFactory(external_id="123", phone=PHONE)
    assert inbound(client, via_fakes, "STOP", signature=signature).status_code == 403
    assert not Suppression.objects.exists() and not ConsentRecord.objects.exists()


def test_a_tampered_body_fails_the_signature(client, catalogue, via_fakes):
    RecipientFactory(external_id="123", phone=PHONE)
    params = {"From": PHONE, "To": "+15005550006", "Body": "HELP", "MessageSid": "SM1"}
    signature = RequestValidator(via_fakes.twilio_token).compute_signature(URL, params)
    response = client.post("/webhooks/twilio/inbound", {**params, "Body": "STOP"}, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403 and not Suppression.objects.exists()


def test_a_replayed_stop_writes_the_ledger_once(client, catalogue, via_fakes):
    recipient = RecipientFactory(external_id="123", phone=PHONE)
    for _ in range(3):
        assert inbound(client, via_fakes, "STOP", sid="SMsame").status_code == 200
    assert ConsentRecord.objects.filter(recipient=recipient).count() == 2  # transactional + marketing, once


def test_twilio_error_21610_records_the_same_withdrawal(catalogue, via_fakes):
    recipient = RecipientFactory(external_id="123", phone=PHONE)
    n = submit(type="payment_reminder", data=REMINDER)
    via_fakes.fail_next(TWILIO, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    queue_drain(queue="sms_daily")
    assert len(via_fakes.calls(TWILIO)) == 1  # permanent: not retried
    assert Notification.objects.get(pk=n.pk).status == Status.FAILED
    suppression = Suppression.objects.get(address=PHONE, lifted_at__isnull=True)
    assert suppression.reason == "stop" and "21610" in suppression.detail
    assert set(recipient.consent_records.values_list("action", flat=True)) == {"withdrawn"}
    later = submit(type="payment_reminder", data=REMINDER)
    assert later.status == Status.SUPPRESSED and "replied STOP" in later.last_error
