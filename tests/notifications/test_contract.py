"""The seed contract under /api/communication/: documented request and response shapes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.constants import Status
from notifications.models import Notification
from tests.factories import RecipientFactory, grant_marketing

pytestmark = pytest.mark.django_db

ALERT = {"amount": 100.50, "account": "checking", "threshold": 200.00}


def test_send_has_the_documented_shape(api, catalogue, recipient):
    response = api.post(
        "/api/communication/send",
        {
            "user_id": 123,
            "trigger_type": "financial_alert",
            "data": ALERT,
            "channel": "sms",
            "priority": "critical",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"success", "task_id", "cost", "fallback_used", "analytics_tracked", "message"}
    assert body["success"] is True and body["cost"] == 0.0075 and body["fallback_used"] is False
    assert Notification.objects.get(pk=body["task_id"]).channel == "sms"


def test_send_reports_fallback_when_the_default_channel_is_unreachable(api, catalogue):
    RecipientFactory(external_id="77", phone="")
    body = api.post(
        "/api/communication/send",
        {"user_id": 77, "trigger_type": "financial_alert", "data": ALERT},
        format="json",
    ).json()
    assert body["fallback_used"] is True and body["cost"] == 0.0001


def test_scheduled_time_schedules(api, catalogue, recipient):
    when = (timezone.now() + timedelta(hours=2)).isoformat()
    body = api.post(
        "/api/communication/send",
        {"user_id": "123", "trigger_type": "financial_alert", "data": ALERT, "scheduled_time": when},
        format="json",
    ).json()
    assert "scheduled" in body["message"]
    assert Notification.objects.get(pk=body["task_id"]).status == Status.SCHEDULED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger_type": "financial_alert", "data": ALERT}, "user_id"),
        ({"user_id": 999, "trigger_type": "financial_alert", "data": ALERT}, "user_id"),
        ({"user_id": 123, "trigger_type": "nope"}, "trigger_type"),
        ({"user_id": 123, "trigger_type": "financial_alert", "data": {"amount": 1}}, "data"),
        (
            {"user_id": 123, "trigger_type": "monthly_report", "channel": "sms", "data": {"month": "May"}},
            "channel",
        ),
        (
            {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT, "scheduled_time": "soon"},
            "scheduled_time",
        ),
    ],
)
def test_send_errors_use_the_contract_field_names(api, catalogue, recipient, body, field):
    response = api.post("/api/communication/send", body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False and field in payload["errors"] and field in payload["message"]
    assert Notification.objects.count() == 0


def test_status_maps_to_celery_states_and_carries_the_trace(api, catalogue, recipient):
    task_id = api.post(
        "/api/communication/send",
        {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT},
        format="json",
    ).json()["task_id"]
    body = api.get(f"/api/communication/status/{task_id}").json()
    assert set(body) == {"task_id", "status", "result", "info"}
    assert body["status"] == "PENDING" and body["result"]["status"] == "queued"
    assert body["info"]["decision_trace"][0]["check"] == "type"
    Notification.objects.filter(pk=task_id).update(
        status=Status.SENT, sent_at=timezone.now(), provider_message_id="SM1"
    )
    body = api.get(f"/api/communication/status/{task_id}").json()
    assert body["status"] == "SUCCESS" and body["result"]["message_id"] == "SM1" and body["info"]["delivery_time"]
    assert api.get("/api/communication/status/not-a-uuid").status_code == 404


def test_cancel(api, catalogue, recipient):
    task_id = api.post(
        "/api/communication/send",
        {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT},
        format="json",
    ).json()["task_id"]
    assert api.post(f"/api/communication/cancel/{task_id}").json() == {
        "success": True,
        "message": "Communication cancelled successfully",
    }
    missing = api.post("/api/communication/cancel/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["success"] is False
    Notification.objects.filter(pk=task_id).update(status=Status.SENT)
    too_late = api.post(f"/api/communication/cancel/{task_id}")
    assert too_late.status_code == 409 and too_late.json()["success"] is False


def test_batch_one_bad_item_fails_alone(api, catalogue, recipient):
    sam = RecipientFactory(external_id="456", email="sam@example.com")
    grant_marketing(sam, "email")
    body = {
        "communications": [
            {"user_id": 123, "trigger_type": "financial_alert", "data": {"amount": 100}, "channel": "sms"},
            {
                "user_id": 123,
                "trigger_type": "financial_alert",
                "data": ALERT,
                "channel": "sms",
                "priority": "critical",
            },
            {
                "user_id": 456,
                "trigger_type": "weekly_checkin",
                "data": {"message": "check in"},
                "channel": "email",
            },
            {"user_id": 404, "trigger_type": "weekly_checkin", "data": {}},
            "garbage",
        ]
    }
    payload = api.post("/api/communication/batch", body, format="json").json()
    assert payload["success"] is True
    assert [r["success"] for r in payload["results"]] == [False, True, True, False, False]
    assert payload["summary"] == {"total": 5, "successful": 2, "failed": 3, "total_cost": 0.0076}
    assert "data" in payload["results"][0]["error"] and "user_id" in payload["results"][3]["error"]
    assert payload["results"][1]["task_id"] and payload["results"][1]["user_id"] == 123
    assert Notification.objects.count() == 2


def test_health_and_trigger_types(api, client, catalogue):
    from notifications.heartbeat import heartbeat_beat

    heartbeat_beat("worker@test", "sms_critical")  # as a running worker would
    health = client.get("/api/communication/health")
    assert health.status_code == 200
    assert set(health.json()) == {"status", "services", "timestamp"} and health.json()["status"] == "healthy"
    assert health.json()["services"] == {"database": True, "broker": True, "workers": True}
    types = api.get("/api/communication/trigger-types").json()["trigger_types"]
    alert = next(t for t in types if t["value"] == "financial_alert")
    assert alert == {
        "value": "financial_alert",
        "name": "Financial Alert",
        "description": alert["description"],
        "default_channel": "sms",
        "default_priority": "critical",
    }
    assert client.get("/api/communication/trigger-types").status_code == 401


def test_contract_requires_permissions(api_without_perms, catalogue, recipient):
    response = api_without_perms.post(
        "/api/communication/send",
        {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT},
        format="json",
    )
    assert response.status_code == 403
    assert Notification.objects.count() == 0
