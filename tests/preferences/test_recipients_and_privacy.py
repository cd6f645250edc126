"""Recipients (validated contact points), suppressions (added and lifted with a record), privacy (export and
erase), and the admin pages for all of it."""

import json

import pytest
from django.contrib.auth import get_user_model

from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import CapturedMessage, Notification
from preferences.models import ConsentRecord, Preference, Recipient, Suppression
from preferences.services import preference_set, sms_opt_out
from tests.factories import RecipientFactory, grant_marketing, submit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "4155550123", "international form"),
        ("phone", "+1415555", "not a valid phone number"),
        ("email", "not-an-email", "valid email"),
        ("timezone", "Mars/Olympus", "Unknown time zone"),
        ("locale", "english please", "locale tag"),
        ("send_window_start", "25:00", "local time"),
    ],
)
def test_a_bad_contact_point_is_a_400_naming_the_field(api, catalogue, field, value, message):
    response = api.put("/api/v1/recipients/new-user/", {field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json() and message in " ".join(response.json()[field])
    assert not Recipient.objects.filter(external_id="new-user").exists()


def test_upsert_normalises_the_phone_to_e164_and_keeps_a_send_window(api, catalogue):
    response = api.put(
        "/api/v1/recipients/u1/",
        {"phone": "+44 20 7946 0123", "timezone": "", "send_window_start": "09:30", "send_window_end": "20:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["phone"], body["timezone"], body["send_window_start"]) == ("+442079460123", "", "09:30:00")
    half = api.put("/api/v1/recipients/u2/", {"send_window_start": "09:30"}, format="json")
    assert half.status_code == 400 and "send_window_end" in half.json()


def test_a_suppression_blocks_every_type_until_lifted_and_the_lift_is_recorded(api, catalogue):
    RecipientFactory(external_id="123", phone="+14155550123")
    created = api.post(
        "/api/v1/suppressions/",
        {"channel": "sms", "address": "+1 415 555 0123", "detail": "fraud report"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["address"] == "+14155550123" and created.json()["created_by"] == "billing-backend"
    again = api.post("/api/v1/suppressions/", {"channel": "sms", "address": "+14155550123"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]  # already blocked
    alert = submit(channel="sms")  # transactional and critical, still blocked
    assert alert.status == Status.SUPPRESSED and "blocked by staff" in alert.last_error

    staff = get_user_model().objects.create_superuser(username="ops", email="o@example.com", password="x" * 20)
    from rest_framework.test import APIClient

    ops = APIClient()
    ops.force_authenticate(staff)
    url = f"/api/v1/suppressions/{created.json()['id']}/lift/"
    assert ops.post(url, {}, format="json").status_code == 400  # a reason is required
    lifted = ops.post(url, {"reason": "customer confirmed the number by phone"}, format="json")
    assert lifted.status_code == 200
    assert (lifted.json()["is_active"], lifted.json()["lifted_by"]) == (False, "ops")
    assert submit(channel="sms").status == Status.QUEUED
    bad = api.post("/api/v1/suppressions/", {"channel": "sms", "address": "call me"}, format="json")
    assert bad.status_code == 400 and "address" in bad.json()


def test_export_holds_everything_and_erase_keeps_only_the_pseudonymous_ledger(api, catalogue, settings):
    settings.SMS_PROVIDER = "capture"
    dana = RecipientFactory(external_id="123", email="dana@example.com", phone="+14155550123")
    grant_marketing(dana, "email")
    preference_set(recipient=dana, category="reminders", enabled=False)
    sent = submit()
    queue_drain(queue="sms_critical")
    waiting = submit(type="monthly_report", data={"month": "May"})
    assert CapturedMessage.objects.filter(notification_id=sent.pk).exists()

    exported = api.get("/api/v1/recipients/123/export/").json()
    assert exported["recipient"]["email"] == "dana@example.com"
    assert {n["id"] for n in exported["notifications"]} == {str(sent.pk), str(waiting.pk)}
    assert exported["preferences"][0]["category"] == "reminders" and len(exported["consent_ledger"]) == 1
    assert "Alert: $120.00" in json.dumps(exported)

    from django.contrib.auth.models import Permission

    api.user.user_permissions.add(Permission.objects.get(codename="erase_recipient"))
    from commhub.permissions import clear_permission_cache

    clear_permission_cache()
    erased = api.post("/api/v1/recipients/123/erase/")
    assert erased.status_code == 200, erased.content
    pseudonym = erased.json()["pseudonym"]
    assert pseudonym.startswith("erased-") and erased.json()["cancelled"] == 1

    dana.refresh_from_db()
    assert (dana.external_id, dana.email, dana.phone, dana.attributes) == (pseudonym, "", "", {})
    assert dana.erased_at is not None and not Preference.objects.filter(recipient=dana).exists()
    assert ConsentRecord.objects.filter(recipient=dana).count() == 1  # the proof stays
    for n in Notification.objects.filter(recipient=dana):
        assert (n.to_address, n.data, n.rendered_body) == ("", {}, "")
        assert all(step["reason"] == "(erased)" for step in n.decision_trace)
    assert Notification.objects.get(pk=waiting.pk).status == Status.CANCELLED
    assert Notification.objects.get(pk=sent.pk).cost is not None  # accounting still adds up
    assert not CapturedMessage.objects.filter(notification_id=sent.pk).exists()
    assert "dana@example.com" not in json.dumps(api.get(f"/api/v1/recipients/{pseudonym}/export/").json())
    assert api.get("/api/v1/recipients/123/").status_code == 404


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_superuser(username="staff", email="s@example.com", password="x" * 20)
    client.force_login(user)
    return client


def test_every_preferences_admin_page_renders(staff, catalogue):
    dana = RecipientFactory(external_id="123", phone="+14155550123")
    grant_marketing(dana, "sms")
    preference_set(recipient=dana, channel="email", enabled=False)
    sms_opt_out(phone="+14155550123", keyword="STOP", reference="SM1")
    suppression = Suppression.objects.get()
    record = ConsentRecord.objects.first()
    for url in [
        "/admin/preferences/recipient/",
        f"/admin/preferences/recipient/{dana.pk}/change/",
        "/admin/preferences/preference/",
        "/admin/preferences/consentrecord/",
        f"/admin/preferences/consentrecord/{record.pk}/change/",
        "/admin/preferences/consentrecord/add/",
        "/admin/preferences/suppression/",
        f"/admin/preferences/suppression/{suppression.pk}/change/",
        "/admin/preferences/suppression/add/",
        f"/admin/notifications/notificationtype/{catalogue['weekly_checkin'].pk}/change/",
    ]:
        response = staff.get(url)
        assert response.status_code == 200, url
    page = staff.get(f"/admin/preferences/recipient/{dana.pk}/change/").content.decode()
    assert "sms_keyword" in page or "SMS keyword" in page  # the ledger inline shows the STOP


def test_staff_add_and_lift_a_suppression_in_the_admin(staff, catalogue):
    response = staff.post(
        "/admin/preferences/suppression/add/",
        {"channel": "email", "address": "Someone@Example.com", "reason": "manual", "detail": "legal request"},
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.created_by) == ("someone@example.com", "staff")
    bad = staff.post("/admin/preferences/suppression/add/", {"channel": "sms", "address": "nope", "reason": "manual"})
    assert bad.status_code == 200 and b"international form" in bad.content
    lift = staff.post(
        f"/admin/preferences/suppression/{suppression.pk}/change/", {"lift_reason": "request withdrawn by legal"}
    )
    assert lift.status_code == 302
    suppression.refresh_from_db()
    assert suppression.lifted_at and suppression.lifted_by == "staff"
    assert suppression.lift_reason == "request withdrawn by legal"
    assert staff.post(f"/admin/preferences/suppression/{suppression.pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_admin_erase_action_needs_its_permission_and_works(client, staff, catalogue):
    RecipientFactory(external_id="123")
    submit()
    response = staff.post(
        "/admin/preferences/recipient/",
        {"action": "erase_personal_data", "_selected_action": [Recipient.objects.get().pk]},
    )
    assert response.status_code == 302
    assert Recipient.objects.get().erased_at is not None
    plain = get_user_model().objects.create_user(username="clerk", password="x" * 20, is_staff=True)
    from django.contrib.auth.models import Permission

    plain.user_permissions.add(Permission.objects.get(codename="view_recipient"))
    client.force_login(plain)
    assert b"erase_personal_data" not in client.get("/admin/preferences/recipient/").content


def test_the_catalogue_types_carry_their_compliance_policy(catalogue):
    assert catalogue["financial_alert"].preference_policy == "required"
    assert catalogue["financial_alert"].respects_quiet_hours is False
    assert catalogue["weekly_checkin"].has_frequency_cap and catalogue["weekly_checkin"].frequency_cap_action == "skip"
    assert all(t.respects_quiet_hours for t in catalogue.values() if t.purpose == "marketing")
    bad = catalogue["weekly_checkin"]
    bad.respects_quiet_hours = False
    with pytest.raises(Exception, match="TCPA"):
        bad.full_clean()
