"""The worker side, run in-process: real anymail and Twilio clients against the local fake providers."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import notifications_claim, notifications_promote_due, queue_drain, sweep
from notifications.models import DeliveryAttempt, Notification
from tests.conftest import postmark_settings
from tests.factories import submit
from tests.fakes.providers import MAILGUN, POSTMARK, TWILIO

pytestmark = pytest.mark.django_db


def reload(n):
    return Notification.objects.get(pk=n.pk)


def test_sms_goes_through_the_twilio_client_and_records_sid_and_cost(catalogue, recipient, via_fakes):
    n = submit()
    result = queue_drain(queue="sms_critical")
    assert result.sent == 1
    [request] = via_fakes.sent(TWILIO)
    assert request.fields["To"] == "+14155550123" and request.fields["From"] == "+15005550006"
    assert request.fields["Body"] == "Alert: $120.00 on your checking account."
    n = reload(n)
    assert n.status == Status.SENT and n.provider == "twilio"
    assert n.provider_message_id == request.response["sid"] and n.provider_message_id.startswith("SM")
    assert n.cost == Decimal("0.0075") and n.segments == 1
    attempt = DeliveryAttempt.objects.get(notification=n)
    assert (attempt.number, attempt.outcome, attempt.provider_message_id) == (
        1,
        "success",
        n.provider_message_id,
    )
    entry = CostEntry.objects.get(notification=n)
    assert (entry.units, entry.amount, entry.currency) == (1, Decimal("0.0075"), "USD")


def test_email_goes_through_anymail_mailgun_and_records_its_message_id(catalogue, recipient, via_fakes):
    n = submit(type="monthly_report", data={"month": "May", "summary": "Savings up <10%>"})
    queue_drain(queue="email_reports")
    [request] = via_fakes.sent(MAILGUN)
    assert request.path == "/v3/mg.example.com/messages"
    assert request.fields["to"] == "dana@example.com" and request.fields["subject"] == "Your monthly report for May"
    assert "Savings up &lt;10%&gt;" in request.fields["html"] and "Savings up <10%>" in request.fields["text"]
    assert request.fields["v:notification_id"] == str(n.pk)  # metadata for tracking webhooks
    n = reload(n)
    assert n.provider == "mailgun" and n.provider_message_id == request.response["id"]
    assert n.cost == Decimal("0.0001")


def test_email_goes_through_anymail_postmark_too(catalogue, recipient, fake, settings):
    for name, value in postmark_settings(fake).items():
        setattr(settings, name, value)
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    [request] = fake.sent(POSTMARK)
    assert request.fields["To"] == "dana@example.com" and request.fields["Subject"] == "Your monthly report for May"
    n = reload(n)
    assert n.provider == "postmark" and n.provider_message_id == request.response["MessageID"]


def test_postmark_inactive_recipient_is_permanent(catalogue, recipient, fake, settings):
    for name, value in postmark_settings(fake).items():
        setattr(settings, name, value)
    fake.fail_always(
        POSTMARK,
        status=422,
        code=406,
        message=(
            "You tried to send to a recipient that has been marked as inactive.\n Found inactive addresses: {to}.\n "
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint. "
        ),
    )
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    n = reload(n)
    assert n.status == Status.FAILED and n.error_code == "recipients_refused"
    assert len(fake.calls(POSTMARK)) == 1  # permanent: exactly one provider call


def test_permanent_sms_error_fails_once_and_falls_back_to_email(catalogue, recipient, via_fakes):
    via_fakes.fail_always(TWILIO, status=400, code=21211, message="The 'To' number is not a valid phone number.")
    n = submit()
    queue_drain(queue="sms_critical")
    n = reload(n)
    assert n.status == Status.FAILED and n.error_code == "twilio_21211" and n.attempts == 1
    assert len(via_fakes.calls(TWILIO)) == 1
    fallback = Notification.objects.get(fallback_of=n)
    assert (fallback.channel, fallback.status, fallback.queue) == ("email", Status.QUEUED, "email_critical")
    queue_drain(queue="email_critical")
    [email] = via_fakes.sent(MAILGUN)
    assert email.fields["subject"] == "Alert on your checking account"
    assert reload(fallback).status == Status.SENT


def test_transient_error_retries_with_backoff_then_succeeds(catalogue, recipient, via_fakes):
    via_fakes.fail_next(TWILIO, times=1, status=503, message="Service Unavailable")
    n = submit()
    before = timezone.now()
    queue_drain(queue="sms_critical")
    n = reload(n)
    assert n.status == Status.PENDING and n.attempts == 1 and n.error_code == "twilio_20503"
    # financial_alert retries after 60 s (+/- 20% jitter)
    assert timedelta(seconds=47) <= n.send_at - before <= timedelta(seconds=73)
    assert notifications_promote_due(now=n.send_at - timedelta(seconds=1)) == {}
    assert notifications_promote_due(now=n.send_at + timedelta(seconds=1)) == {"sms_critical": 1}
    Notification.objects.filter(pk=n.pk).update(send_at=timezone.now())
    queue_drain(queue="sms_critical")
    n = reload(n)
    assert n.status == Status.SENT and n.attempts == 2
    assert list(n.attempts_log.values_list("outcome", flat=True)) == ["transient", "success"]
    assert len(via_fakes.calls(TWILIO)) == 2


def test_twilio_rate_limit_20429_is_transient(catalogue, recipient, via_fakes):
    via_fakes.fail_next(TWILIO, status=429, code=20429, message="Too Many Requests")
    n = submit()
    queue_drain(queue="sms_critical")
    assert reload(n).status == Status.PENDING


def test_exhausted_retries_end_failed_with_fallback(catalogue, recipient, via_fakes):
    via_fakes.fail_always(TWILIO, status=500, message="Internal Server Error")
    n = submit()
    for _ in range(4):
        queue_drain(queue="sms_critical")
        Notification.objects.filter(pk=n.pk, status=Status.PENDING).update(send_at=timezone.now())
        notifications_promote_due()
    n = reload(n)
    assert n.status == Status.FAILED and n.attempts == 4 and "retries exhausted" in n.decision_trace[-1]["reason"]
    assert len(via_fakes.calls(TWILIO)) == 4
    assert Notification.objects.filter(fallback_of=n, channel="email").count() == 1


def test_network_failure_to_the_esp_is_transient(catalogue, recipient, settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        "MAILGUN_API_KEY": "k",
        "MAILGUN_API_URL": "http://127.0.0.1:9/v3",
        "MAILGUN_SENDER_DOMAIN": "x.example",
    }
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    n = reload(n)
    assert n.status == Status.PENDING and n.error_code == "http_network"


def test_bad_credentials_are_permanent(catalogue, recipient, via_fakes, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-token"
    n = submit()
    queue_drain(queue="sms_critical")
    n = reload(n)
    assert n.status == Status.FAILED and n.error_code == "twilio_20003"


def test_a_claimed_row_is_not_claimed_again(catalogue, recipient):
    n = submit()
    first = notifications_claim(queue="sms_critical", limit=10, token=uuid.uuid4(), now=timezone.now())
    second = notifications_claim(queue="sms_critical", limit=10, token=uuid.uuid4(), now=timezone.now())
    assert [x.pk for x in first] == [n.pk] and second == []
    assert reload(n).status == Status.SENDING and reload(n).claims == 1


def test_claim_takes_the_most_urgent_first(catalogue, recipient):
    low = submit(type="payment_reminder", data={"bill_name": "Gym", "amount": "$30", "due_date": "Friday"}, priority=3)
    urgent = submit(
        type="payment_reminder", data={"bill_name": "Rent", "amount": "$900", "due_date": "today"}, priority=2
    )
    claimed = notifications_claim(queue="sms_daily", limit=1, token=uuid.uuid4(), now=timezone.now())
    assert [c.pk for c in claimed] == [urgent.pk]
    assert reload(low).status == Status.QUEUED


def test_a_drain_past_its_time_budget_gives_back_what_it_did_not_send(catalogue, recipient, via_fakes):
    for _ in range(3):
        submit()
    via_fakes.latency = 0.3  # the provider is slow: the budget runs out after the first send
    try:
        result = queue_drain(queue="sms_critical", time_budget=0.1, threads=1)
    finally:
        via_fakes.latency = 0.0
    assert (result.claimed, result.sent, result.released) == (3, 1, 2)
    assert result.more_may_wait  # the task wakes the queue again
    assert Notification.objects.filter(status=Status.QUEUED, claims=0).count() == 2
    assert len(via_fakes.calls(TWILIO)) == 1


def test_a_drain_yields_when_a_more_urgent_queue_has_work(catalogue, recipient):
    for i in range(3):
        submit(type="payment_reminder", data={"bill_name": f"Bill {i}", "amount": "$1", "due_date": "today"})
    first = queue_drain(queue="sms_daily", batch_size=1, threads=1, limit=1)
    assert first.sent == 1 and not first.yielded
    submit()  # a financial alert lands in sms_critical
    second = queue_drain(queue="sms_daily", batch_size=1, threads=1)
    assert second.yielded and second.more_may_wait and second.urgent_queues == ["sms_critical"]
    assert second.sent == 1  # it finished what it held, then stopped claiming
    assert queue_drain(queue="sms_critical", threads=1).sent == 1


def test_a_send_recorded_after_losing_the_claim_is_logged_not_double_counted(catalogue, recipient, caplog):
    from notifications.channels.providers import provider_for
    from notifications.delivery import notification_deliver

    n = submit()
    token = uuid.uuid4()
    [row] = notifications_claim(queue="sms_critical", limit=1, token=token, now=timezone.now())
    Notification.objects.filter(pk=n.pk).update(claim_token=uuid.uuid4())  # the sweeper gave it to someone else
    assert notification_deliver(row, provider=provider_for("sms"), token=token) == "lost"
    assert "possible duplicate" in caplog.text
    assert reload(n).status == Status.SENDING and not CostEntry.objects.exists()
    assert DeliveryAttempt.objects.filter(notification=n).count() == 1  # the call happened: it is on record


def test_sweeper_requeues_expired_leases_and_fails_poison(catalogue, recipient, settings):
    dead = submit()
    poison = submit()
    notifications_claim(queue="sms_critical", limit=10, token=uuid.uuid4(), now=timezone.now())
    past = timezone.now() - timedelta(seconds=1)
    Notification.objects.filter(pk=dead.pk).update(lease_expires_at=past)
    Notification.objects.filter(pk=poison.pk).update(lease_expires_at=past, claims=settings.COMMHUB["MAX_CLAIMS"])
    result = sweep()
    assert (result.requeued, result.poisoned) == (1, 1)
    assert reload(dead).status == Status.QUEUED
    poison = reload(poison)
    assert poison.status == Status.FAILED and poison.error_code == "poison"
    assert Notification.objects.filter(fallback_of=poison).exists()
    assert "sms_critical" in result.rekicked_queues


def test_sweeper_rekicks_queues_whose_rows_sit_untouched(catalogue, recipient):
    n = submit()
    Notification.objects.filter(pk=n.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep().rekicked_queues == ["sms_critical"]


def test_scheduled_rows_are_queued_by_the_dispatcher_when_due(catalogue, recipient):
    n = submit(send_at=timezone.now() + timedelta(hours=2))
    assert queue_drain(queue="sms_critical").claimed == 0
    assert notifications_promote_due() == {}
    assert notifications_promote_due(now=timezone.now() + timedelta(hours=2, seconds=1)) == {"sms_critical": 1}
    assert reload(n).status == Status.QUEUED


def test_a_cancelled_notification_is_never_sent(catalogue, recipient, via_fakes):
    from notifications.services import notification_cancel

    n = submit()
    notification_cancel(notification_id=n.pk)
    assert queue_drain(queue="sms_critical").claimed == 0
    assert via_fakes.calls(TWILIO) == []


def test_recipient_losing_its_phone_before_send_fails_and_falls_back(catalogue, recipient, via_fakes):
    n = submit()
    recipient.phone = ""
    recipient.save()
    queue_drain(queue="sms_critical")
    n = reload(n)
    assert n.status == Status.FAILED and n.error_code == "unreachable" and n.attempts == 0
    assert via_fakes.calls(TWILIO) == []
    assert Notification.objects.filter(fallback_of=n, channel="email").exists()


def test_capture_mode_stores_what_would_have_been_sent(catalogue, recipient, settings):
    from notifications.models import CapturedMessage

    settings.EMAIL_BACKEND = "notifications.channels.capture.CaptureEmailBackend"  # pytest-django sets locmem
    settings.SMS_PROVIDER = "capture"
    sms = submit()
    email = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="sms_critical")
    queue_drain(queue="email_reports")
    captured_sms = CapturedMessage.objects.get(channel="sms")
    captured_email = CapturedMessage.objects.get(channel="email")
    assert captured_sms.notification_id == sms.pk and captured_sms.body == "Alert: $120.00 on your checking account."
    assert captured_email.notification_id == email.pk and "May" in captured_email.html
    assert reload(sms).provider_message_id == captured_sms.message_id
    assert reload(email).provider_message_id == captured_email.message_id


def test_a_drain_does_not_yield_to_queues_its_worker_does_not_serve(catalogue, recipient, monkeypatch):
    from notifications.delivery import drain

    for i in range(3):
        submit(type="payment_reminder", data={"bill_name": f"Bill {i}", "amount": "$1", "due_date": "today"})
    submit()  # critical work exists, but another pool serves sms_critical
    monkeypatch.setattr(drain, "consumed_queues", frozenset({"maintenance", "sms_daily", "email_daily"}))
    result = queue_drain(queue="sms_daily", batch_size=1, threads=1)
    assert not result.yielded and result.sent == 3 and result.queue_empty
