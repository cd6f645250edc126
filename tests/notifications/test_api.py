"""The v1 API: send, batch, list, detail, cancel, retry, types; errors are 4xx with field messages."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken

from notifications import catalogue as catalogue_types
from notifications.constants import Status
from notifications.models import Notification
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db

ALERT = {"amount": "$120.00", "account": "checking"}


def send(api, **body):
    body.setdefault("recipient", "123")
    body.setdefault("type", "financial_alert")
    body.setdefault("data", ALERT)
    return api.post("/api/v1/notifications/", body, format="json")


def test_send_returns_202_with_the_queued_notification(api, catalogue, recipient):
    response = send(api)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["channel"] == "sms" and body["cost"] == "0.007500"
    assert Notification.objects.get(pk=body["id"]).submitted_by == api.user


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "unknown_type"}, "type"),
        ({"recipient": "ghost"}, "recipient"),
        ({"recipient": None}, "recipient"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"type": "monthly_report", "channel": "sms", "data": {"month": "May"}}, "channel"),
        ({"data": {"amount": 5}}, "data"),
        ({"data": "not an object"}, "data"),
        ({"priority": "urgent-ish"}, "priority"),
        ({"send_at": "tomorrow-ish"}, "send_at"),
        ({"recipient": {"external_id": "p", "phone": "555-0100"}}, "recipient"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_no_row(api, catalogue, recipient, body, field):
    response = send(api, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Notification.objects.count() == 0


def test_missing_fields_are_each_named(api, catalogue):
    response = api.post("/api/v1/notifications/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"recipient", "type"}


def test_missing_template_variable_is_named_inside_data(api, catalogue, recipient):
    response = send(api, data={"account": "checking"})
    assert response.status_code == 400
    assert response.json() == {"data": {"amount": ["This variable is required by the template."]}}


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2", b"\xff\xfe", b'"just a string"', b"[]"])
def test_malformed_json_is_a_400_not_a_500(api, catalogue, payload):
    response = api.generic("POST", "/api/v1/notifications/", payload, content_type="application/json")
    assert response.status_code == 400
    assert Notification.objects.count() == 0


def test_batch_of_1000_with_3_bad_items(api, catalogue):
    RecipientFactory(external_id="123")
    items = [{"recipient": "123", "type": "financial_alert", "data": ALERT} for _ in range(1000)]
    items[10] = {"recipient": "ghost", "type": "financial_alert", "data": ALERT}
    items[500] = {"recipient": "123", "type": "financial_alert", "data": {"amount": 1}}
    items[999] = "not an object"
    response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["summary"] == {"total": 1000, "accepted": 997, "rejected": 3, "suppressed": 0}
    failed = {r["index"]: r["errors"] for r in body["results"] if not r["success"]}
    assert set(failed) == {10, 500, 999}
    assert "recipient" in failed[10] and failed[500] == {
        "data": {"account": ["This variable is required by the template."]}
    }
    assert Notification.objects.count() == 997
    assert all(r["id"] for r in body["results"] if r["success"])


def test_batch_over_the_cap_is_refused_whole(api, catalogue, recipient, settings):
    settings.COMMHUB = {**settings.COMMHUB, "BATCH_MAX_ITEMS": 5}
    items = [{"recipient": "123", "type": "financial_alert", "data": ALERT}] * 6
    response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 400 and "At most 5" in response.json()["notifications"][0]
    assert Notification.objects.count() == 0


def test_list_is_paginated_with_count_and_filters(api, catalogue, recipient):
    for _ in range(3):
        send(api)
    send(api, type="monthly_report", data={"month": "May"})
    response = api.get("/api/v1/notifications/", {"page_size": 2})
    body = response.json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    assert api.get("/api/v1/notifications/", {"channel": "email"}).json()["count"] == 1
    assert api.get("/api/v1/notifications/", {"type": "financial_alert", "status": "queued"}).json()["count"] == 3
    assert api.get("/api/v1/notifications/", {"recipient": "someone-else"}).json()["count"] == 0
    assert api.get("/api/v1/notifications/", {"status": "bogus"}).status_code == 400


def test_detail_shows_trace_and_attempts_and_404s_unknown_ids(api, catalogue, recipient):
    created = send(api).json()
    detail = api.get(f"/api/v1/notifications/{created['id']}/").json()
    assert detail["decision_trace"][0]["check"] == "type"
    assert detail["attempts_log"] == [] and detail["data"] == ALERT
    assert api.get("/api/v1/notifications/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_cancel_and_retry_through_the_api(api, catalogue, recipient):
    created = send(api).json()
    assert api.post(f"/api/v1/notifications/{created['id']}/cancel/").json()["status"] == "cancelled"
    response = api.post(f"/api/v1/notifications/{created['id']}/retry/")
    assert response.status_code == 409 and "failed" in response.json()["detail"]
    Notification.objects.filter(pk=created["id"]).update(status=Status.FAILED)
    assert api.post(f"/api/v1/notifications/{created['id']}/retry/").status_code == 202


def test_types_lists_the_catalogue(api, catalogue):
    types = api.get("/api/v1/types/").json()
    assert len(types) == len(catalogue_types.TYPES) == 13
    assert {"call_reminder", "call_reminder_callee", "security_alert"} <= {t["key"] for t in types}
    alert = api.get("/api/v1/types/financial_alert/").json()
    assert alert["allowed_channels"] == ["email", "sms"] and alert["fallback_channel"] == "email"
    assert alert["rate_limits"] == {"email": 5, "sms": 10}


def test_recipient_upsert_validates_and_normalises(api, db):
    response = api.put(
        "/api/v1/recipients/u-1/",
        {
            "email": "u1@example.com",
            "phone": "+44 20 7946 0123",
            "timezone": "Europe/London",
            "locale": "en_GB",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["phone"] == "+442079460123" and response.json()["locale"] == "en-GB"
    response = api.put("/api/v1/recipients/u-1/", {"attributes": {"first_name": "Lee"}}, format="json")
    assert response.status_code == 200 and response.json()["email"] == "u1@example.com"
    bad = api.put(
        "/api/v1/recipients/u-1/",
        {"phone": "12345", "timezone": "Mars/Olympus", "email": "nope"},
        format="json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"phone", "timezone", "email"}
    assert api.patch("/api/v1/recipients/nobody/", {"locale": "fr"}, format="json").status_code == 404


def test_no_token_is_401_and_a_token_without_permission_is_403(client, api_without_perms, catalogue, recipient):
    assert client.post("/api/v1/notifications/", {}, content_type="application/json").status_code == 401
    assert send(api_without_perms).status_code == 403
    assert api_without_perms.get("/api/v1/notifications/").status_code == 403
    assert api_without_perms.get("/api/v1/recipients/").status_code == 403
    assert Notification.objects.count() == 0


def test_a_read_only_client_cannot_send(catalogue, recipient):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user(username="reader", password="x" * 20)
    user.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    assert client.get("/api/v1/notifications/").status_code == 200
    assert send(client).status_code == 403


def test_token_endpoint_issues_a_working_jwt(client, api_user, catalogue, recipient):
    response = client.post("/api/token/", {"username": "billing-backend", "password": "x" * 20})
    assert response.status_code == 200
    access = response.json()["access"]
    sent = client.post(
        "/api/v1/notifications/",
        json.dumps({"recipient": "123", "type": "financial_alert", "data": ALERT}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    assert sent.status_code == 202
    assert client.post("/api/token/", {"username": "billing-backend", "password": "wrong"}).status_code == 401
    refreshed = client.post("/api/token/refresh/", {"refresh": response.json()["refresh"]})
    assert refreshed.status_code == 200 and refreshed.json()["access"]


def test_tampered_token_is_401(client, api_user):
    token = str(RefreshToken.for_user(api_user).access_token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get("/api/v1/notifications/", HTTP_AUTHORIZATION=f"Bearer {tampered}").status_code == 401


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/notifications/" in schema.content
    assert b"/api/communication/send:" in schema.content  # the contract's paths as documented
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
