"""Submitting: validation before any row exists, routing, scheduling, cost estimates, cancel and retry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from commhub.errors import Conflict, InvalidInput
from notifications.constants import Status
from notifications.models import Notification
from notifications.services import (
    SubmitRequest,
    notification_cancel,
    notification_retry,
    notifications_submit_batch,
)
from tests.factories import ALERT, RecipientFactory, submit

pytestmark = pytest.mark.django_db


def test_financial_alert_goes_to_the_critical_sms_queue_with_its_estimated_cost(
    catalogue, recipient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        n = submit()
    assert (n.status, n.channel, n.queue, n.priority) == (Status.QUEUED, "sms", "sms_critical", 1)
    assert n.max_attempts == 4  # 3 retries + the first attempt
    assert n.cost == Decimal("0.0075") and n.segments == 1
    assert [step["check"] for step in n.decision_trace] == [
        "type",
        "channel",
        "suppression",
        "consent",
        "preference",
        "quiet_hours",
        "template",
    ]
    assert all(step["outcome"] == "pass" for step in n.decision_trace)
    assert len(callbacks) == 1  # the wake-up waits for the commit


def test_a_two_segment_sms_is_estimated_at_twice_the_price(catalogue, recipient):
    n = submit(data={"amount": "x" * 150, "account": "checking"})
    assert (n.segments, n.cost) == (2, Decimal("0.0150"))


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"type": "no_such_type"}, "type", "Unknown notification type"),
        ({"recipient": "nobody"}, "recipient", "Unknown recipient"),
        ({"recipient": ""}, "recipient", "required"),
        (
            {"type": "monthly_report", "channel": "sms", "data": {"month": "May"}},
            "channel",
            "may not be sent by sms",
        ),
        ({"channel": "fax"}, "channel", "Unknown channel"),
        ({"data": {"amount": 1}}, "data", None),
        ({"recipient": {"external_id": "new", "phone": "4155550123"}}, "recipient", None),
    ],
)
def test_bad_requests_name_the_field_and_create_nothing(catalogue, recipient, kwargs, field, fragment):
    with pytest.raises(InvalidInput) as exc:
        submit(**kwargs)
    assert field in exc.value.errors
    if fragment:
        assert fragment in str(exc.value.errors[field])
    assert Notification.objects.count() == 0


def test_missing_template_variable_is_named(catalogue, recipient):
    with pytest.raises(InvalidInput) as exc:
        submit(data={"amount": 1})
    assert exc.value.errors == {"data": {"account": ["This variable is required by the template."]}}


def test_inactive_type_is_refused(catalogue, recipient):
    catalogue["financial_alert"].is_active = False
    catalogue["financial_alert"].save()
    with pytest.raises(InvalidInput, match="inactive"):
        submit()


def test_recipient_without_phone_gets_the_fallback_channel(catalogue):
    RecipientFactory(external_id="no-phone", phone="")
    n = submit(recipient="no-phone")
    assert n.channel == "email" and n.queue == "email_critical"
    assert [(s["check"], s["outcome"]) for s in n.decision_trace[1:3]] == [("channel", "skip"), ("channel", "fallback")]
    assert "no phone number" in n.decision_trace[1]["reason"]


def test_recipient_unreachable_on_every_channel_is_a_400(catalogue):
    RecipientFactory(external_id="no-contact", phone="", email="")
    with pytest.raises(InvalidInput) as exc:
        submit(recipient="no-contact")
    assert "has no phone number" in str(exc.value.errors["recipient"])


def test_requested_channel_without_contact_point_is_a_400(catalogue):
    RecipientFactory(external_id="no-email", email="")
    with pytest.raises(InvalidInput) as exc:
        submit(recipient="no-email", channel="email")
    assert "has no email address" in str(exc.value.errors["channel"])


def test_inline_recipient_is_upserted_with_the_send_and_rolled_back_with_a_bad_one(catalogue):
    from preferences.models import Recipient

    n = submit(recipient={"external_id": "inline-1", "phone": "+1 415 555 0199"})
    assert n.recipient.phone == "+14155550199"
    with pytest.raises(InvalidInput):
        submit(recipient={"external_id": "inline-2", "phone": "+14155550198"}, data={})
    assert not Recipient.objects.filter(external_id="inline-2").exists()


def test_critical_priority_moves_a_daily_type_to_the_critical_queue(catalogue, recipient):
    n = submit(
        type="payment_reminder",
        data={"bill_name": "Rent", "amount": "$900", "due_date": "June 1"},
        priority=1,
    )
    assert n.queue == "sms_critical"


def test_future_send_at_is_scheduled_not_queued(catalogue, recipient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        n = submit(send_at=timezone.now() + timedelta(days=3))
    assert n.status == Status.SCHEDULED
    assert callbacks == []  # no broker message, no ETA: the beat dispatcher queues it when due


def test_batch_accepts_good_items_and_reports_bad_ones(catalogue, recipient, django_capture_on_commit_callbacks):
    items = [SubmitRequest(recipient="123", type="financial_alert", data=ALERT) for _ in range(5)]
    items[1] = SubmitRequest(recipient="ghost", type="financial_alert", data=ALERT)
    items[3] = SubmitRequest(recipient="123", type="monthly_report", data={})
    with django_capture_on_commit_callbacks() as callbacks:
        results = notifications_submit_batch(items)
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert "recipient" in results[1].errors and results[3].errors == {
        "data": {"month": ["This variable is required by the template."]}
    }
    assert Notification.objects.count() == 3
    assert len(callbacks) == 1  # one wake-up per queue, not per row


def test_cancel_only_before_sending_and_twice_is_harmless(catalogue, recipient):
    n = submit()
    assert notification_cancel(notification_id=n.pk).status == Status.CANCELLED
    assert notification_cancel(notification_id=n.pk).status == Status.CANCELLED
    sent = submit()
    Notification.objects.filter(pk=sent.pk).update(status=Status.SENT)
    with pytest.raises(Conflict, match="sent"):
        notification_cancel(notification_id=sent.pk)


def test_retry_requeues_a_failed_notification_with_a_fresh_budget(catalogue, recipient):
    n = submit()
    with pytest.raises(Conflict):
        notification_retry(notification_id=n.pk)
    Notification.objects.filter(pk=n.pk).update(status=Status.FAILED, attempts=4, claims=4, last_error="boom")
    again = notification_retry(notification_id=n.pk)
    assert (again.status, again.attempts, again.claims) == (Status.QUEUED, 0, 0)
    assert again.decision_trace[-1]["check"] == "retry" and "boom" in again.decision_trace[-1]["reason"]


def test_a_template_broken_outside_the_admin_is_a_400_not_a_500(catalogue, recipient):
    from templates_app.models import Template, TemplateVersion

    template = Template.objects.get(notification_type__key="financial_alert", channel="sms")
    # written with the raw ORM, skipping the validation every service and the admin run
    broken = TemplateVersion.objects.create(template=template, number=2, status="published", text="{{ amount ")
    Template.objects.filter(pk=template.pk).update(published_version=broken)
    with pytest.raises(InvalidInput) as exc:
        submit()
    assert "does not compile" in str(exc.value.errors["type"])
