"""The API takes its input as documented, found by schemathesis and kept here as plain cases: a value of the
wrong kind is a 400 naming the field (never ignored, never coerced, never a 500), an unknown path under /api/ is
JSON, and what is accepted is what the schema says."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from notifications.models import Notification
from preferences.models import Preference, Recipient
from tests.conftest import _client_for
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db

ALERT = {"amount": "$120.00", "account": "checking"}


@pytest.fixture
def admin_api(db):
    return _client_for(get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/notifications/not-a-uuid/"),
        ("post", "/api/v1/notifications/not-a-uuid/cancel/"),
        ("get", "/api/v1/template-versions/1.5/"),
        ("post", "/api/v1/nothing-here"),
    ],
)
def test_an_unknown_api_path_is_a_json_404(admin_api, method, path):
    response = getattr(admin_api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize("page_size", ["null", "0", "501", "-3", "1.5"])
def test_a_page_size_out_of_range_is_refused(api, page_size):
    response = api.get(f"/api/v1/recipients/?page_size={page_size}")
    assert response.status_code == 400 and "page_size" in response.json()


def test_a_page_size_in_range_is_used(api):
    RecipientFactory.create_batch(3)
    body = api.get("/api/v1/recipients/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/notifications/?created_before=", "created_before"),
        ("/api/v1/notifications/?created_after=yesterday", "created_after"),
        ("/api/v1/notifications/?channel=carrier-pigeon", "channel"),
        ("/api/v1/suppressions/?active=null", "active"),
        ("/api/v1/suppressions/?active=", "active"),
        ("/api/v1/templates/?is_active=maybe", "is_active"),
        ("/api/v1/template-versions/?template=-1.52e%2B264", "template"),
        ("/api/v1/template-versions/?template=1.5", "template"),
        ("/api/v1/analytics/daily?to=", "to"),
        ("/api/v1/analytics/daily?provider=", "provider"),
    ],
)
def test_a_filter_value_that_cannot_be_used_is_refused(admin_api, query, field):
    response = admin_api.get(query)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_an_offset_postgresql_cannot_store_is_compared_in_utc(admin_api, catalogue, recipient):
    """-19:45 is a valid ISO 8601 offset for Python; PostgreSQL takes at most 15:59 (this was a 500)."""
    admin_api.post(
        "/api/v1/notifications/", {"recipient": "123", "type": "financial_alert", "data": ALERT}, format="json"
    )
    response = admin_api.get("/api/v1/notifications/?created_before=2999-10-18T07:17:11-19:45")
    assert response.status_code == 200 and response.json()["count"] == 1
    too_far = admin_api.get("/api/v1/notifications/?created_before=9999-12-31T23:59:00-05:00")
    assert too_far.status_code == 400 and "created_before" in too_far.json()


def test_a_blank_text_filter_lists_everything(api):
    RecipientFactory.create_batch(2)
    assert api.get("/api/v1/recipients/?email=").json()["count"] == 2


def test_a_batch_refuses_only_what_makes_it_unusable_as_a_whole(api, catalogue, recipient):
    for body in ({"notifications": []}, {"notifications": {"0": {}}}, {"notifications": "x"}, {}):
        response = api.post("/api/v1/notifications/batch/", body, format="json")
        assert response.status_code == 400 and "notifications" in response.json(), body
    contract = api.post("/api/communication/batch", {"communications": []}, format="json")
    assert contract.status_code == 400 and "communications" in contract.json()["errors"]
    assert not Notification.objects.exists()


def test_a_batch_item_that_is_an_invalid_object_fails_alone(api, catalogue, recipient):
    good = {"recipient": "123", "type": "financial_alert", "data": ALERT}
    items = [good, {"type": "x"}, [None]]
    response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 200
    assert [r["success"] for r in response.json()["results"]] == [True, False, False]
    assert response.json()["results"][2]["errors"] == {"non_field_errors": ["Each item must be a JSON object."]}


def test_an_empty_template_patch_changes_nothing(admin_api, catalogue):
    template = admin_api.get("/api/v1/templates/").json()["results"][0]
    response = admin_api.patch(f"/api/v1/templates/{template['id']}/", {}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is True
    refused = admin_api.patch(f"/api/v1/templates/{template['id']}/", {"is_active": 0}, format="json")
    assert refused.status_code == 400 and refused.json() == {"is_active": ["Must be true or false."]}


def test_a_preference_patch_changes_enabled_and_refuses_a_new_scope(admin_api, catalogue, recipient):
    pref = Preference.objects.create(recipient=recipient, category="reminders", channel="sms", enabled=True)
    url = f"/api/v1/preferences/{pref.pk}/"
    assert admin_api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    moved = admin_api.patch(url, {"enabled": True, "channel": "email"}, format="json")
    assert moved.status_code == 400 and "channel" in moved.json()
    pref.refresh_from_db()
    assert (pref.channel, pref.enabled) == ("sms", False)


def test_a_nul_character_is_refused_where_it_would_be_stored_and_ignored_elsewhere(api, catalogue, recipient):
    stored = api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "financial_alert", "data": {**ALERT, "note\x00": "x"}},
        format="json",
    )
    assert stored.status_code == 400 and "NUL" in stored.json()["data"][0]
    ignored = api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "financial_alert", "data": ALERT, "unused\x00": 1},
        format="json",
    )
    assert ignored.status_code == 202, ignored.content


@pytest.mark.parametrize("value", ["0800", "8:00", "25:00", "08:00:00:00", 800])
def test_a_send_window_is_a_local_time(api, value):
    response = api.put(
        "/api/v1/recipients/r1/", {"send_window_start": value, "send_window_end": "20:00"}, format="json"
    )
    assert response.status_code == 400 and "send_window_start" in response.json()
    assert not Recipient.objects.filter(external_id="r1").exists()


def test_the_consent_ledger_as_csv_has_its_header_when_empty_and_errors_in_json(admin_api):
    RecipientFactory(external_id="quiet")
    empty = admin_api.get("/api/v1/recipients/quiet/consent-ledger/?format=csv")
    assert empty.status_code == 200 and empty["Content-Type"].startswith("text/csv")
    assert empty.content.decode().splitlines() == [
        "id,recipient,channel,purpose,category,action,source,ip_address,user_agent,consent_text,text_version,"
        "actor,reference,created_at"
    ]
    missing = admin_api.get("/api/v1/recipients/nobody/consent-ledger/?format=csv")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


def test_erasing_an_id_that_was_erased_before_gives_the_next_pseudonym(admin_api):
    """Erase 7, create 7 again (a send with an inline recipient does), erase again: this was a 500."""
    RecipientFactory(external_id="7")
    first = admin_api.post("/api/v1/recipients/7/erase/").json()["pseudonym"]
    RecipientFactory(external_id="7")
    second = admin_api.post("/api/v1/recipients/7/erase/")
    assert second.status_code == 200, second.content
    assert second.json()["pseudonym"] == f"{first}-2"
    assert Recipient.objects.filter(external_id__startswith=first).count() == 2


def test_the_token_endpoints_document_their_401(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/token/", "/api/token/refresh/"):
        assert "401" in schema["paths"][path]["post"]["responses"], path
    wrong = client.post("/api/token/", {"username": "nobody", "password": "wrong"}, content_type="application/json")
    assert wrong.status_code == 401
