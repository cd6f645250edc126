"""The back office: pages render for staff, failed notifications are visible and retryable, records are
read-only."""

import pytest
from django.contrib.auth import get_user_model

from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import CapturedMessage, Notification
from notifications.services import SubmitRequest, notification_submit
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db

ALERT = {"amount": "$120.00", "account": "checking"}


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_superuser(username="staff", email="s@example.com", password="x" * 20)
    client.force_login(user)
    return client


def test_every_admin_changelist_renders(staff, catalogue, recipient):
    notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    for url in [
        "/admin/",
        "/admin/notifications/notification/",
        "/admin/notifications/notificationtype/",
        "/admin/notifications/capturedmessage/",
        "/admin/templates_app/template/",
        "/admin/templates_app/templateversion/",
        "/admin/templates_app/templateversion/add/",
        "/admin/templates_app/layout/",
        "/admin/templates_app/partial/",
        "/admin/preferences/recipient/",
        "/admin/costs/pricingrule/",
        "/admin/costs/costentry/",
        "/admin/django_celery_beat/periodictask/",
    ]:
        assert staff.get(url).status_code == 200, url


def test_notifications_filter_by_status_type_channel_and_search_by_recipient(staff, catalogue, recipient):
    n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    page = staff.get(
        "/admin/notifications/notification/",
        {"status__exact": "queued", "channel__exact": "sms", "notification_type__id__exact": n.notification_type_id},
    )
    assert str(n.pk)[:8] in page.content.decode()
    assert str(n.pk)[:8] in staff.get("/admin/notifications/notification/", {"q": "dana@example.com"}).content.decode()
    assert (
        str(n.pk)[:8] not in staff.get("/admin/notifications/notification/", {"status__exact": "sent"}).content.decode()
    )


def test_exhausted_notification_is_visible_with_its_attempts_and_retryable_from_the_admin(
    staff, catalogue, recipient, via_fakes
):
    catalogue["financial_alert"].max_retries = 0
    catalogue["financial_alert"].fallback_channel = ""
    catalogue["financial_alert"].save()
    via_fakes.fail_always(TWILIO, status=503, message="Service Unavailable")
    n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    queue_drain(queue="sms_critical")
    n.refresh_from_db()
    assert n.status == Status.FAILED
    failed_list = staff.get("/admin/notifications/notification/", {"status__exact": "failed"}).content.decode()
    assert str(n.pk)[:8] in failed_list
    detail = staff.get(f"/admin/notifications/notification/{n.pk}/change/").content.decode()
    assert "retries exhausted" in detail and "twilio_20503" in detail and "transient" in detail
    response = staff.post(
        "/admin/notifications/notification/", {"action": "retry_selected", "_selected_action": [str(n.pk)]}, follow=True
    )
    assert "Requeued 1 notification" in response.content.decode()
    assert Notification.objects.get(pk=n.pk).status == Status.QUEUED


def test_cancel_action_refuses_what_is_already_sent(staff, catalogue, recipient):
    queued = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    sent = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    Notification.objects.filter(pk=sent.pk).update(status=Status.SENT)
    response = staff.post(
        "/admin/notifications/notification/",
        {"action": "cancel_selected", "_selected_action": [str(queued.pk), str(sent.pk)]},
        follow=True,
    )
    body = response.content.decode()
    assert "Cancelled 1 notification" in body and "Cannot cancel a notification that is sent" in body
    assert Notification.objects.get(pk=queued.pk).status == Status.CANCELLED


def test_notifications_cannot_be_edited_or_deleted_in_the_admin(staff, catalogue, recipient):
    n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    staff.post(f"/admin/notifications/notification/{n.pk}/change/", {"status": "sent"})
    assert Notification.objects.get(pk=n.pk).status == Status.QUEUED
    assert staff.post(f"/admin/notifications/notification/{n.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Notification.objects.filter(pk=n.pk).exists()


def test_captured_sms_and_email_are_readable(staff, catalogue, recipient, settings):
    settings.EMAIL_BACKEND = "notifications.channels.capture.CaptureEmailBackend"
    notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    email = notification_submit(SubmitRequest(recipient="123", type="monthly_report", data={"month": "May"}))
    queue_drain(queue="sms_critical")
    queue_drain(queue="email_reports")
    listing = staff.get("/admin/notifications/capturedmessage/").content.decode()
    assert "Alert: $120.00 on your checking account." in listing and "Your monthly report for May" in listing
    captured = CapturedMessage.objects.get(channel="email")
    detail = staff.get(f"/admin/notifications/capturedmessage/{captured.pk}/change/").content.decode()
    assert "<iframe sandbox" in detail and str(email.pk) in detail


def test_template_admin_refuses_a_draft_with_a_syntax_error(staff, catalogue):
    from templates_app.models import Template, TemplateVersion

    template = Template.objects.get(notification_type__key="financial_alert", channel="sms")
    response = staff.post(
        "/admin/templates_app/templateversion/add/",
        {"template": template.pk, "text": "Alert: {{ amount ", "variables": "[]", "use_layout": "on"},
    )
    assert response.status_code == 200 and "line 1" in response.content.decode()
    assert TemplateVersion.objects.filter(template=template).count() == 1  # only the catalogue's v1


def test_recipient_admin_uses_the_api_validation(staff, db):
    response = staff.post(
        "/admin/preferences/recipient/add/",
        {
            "external_id": "x1",
            "email": "x1@example.com",
            "phone": "0123",
            "timezone": "Nowhere/City",
            "locale": "en",
            "attributes": "{}",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200 and "international form" in body and "Unknown time zone" in body
