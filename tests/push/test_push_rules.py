"""Everything commhub enforces applies to push without push-specific code: consent for marketing, quiet hours
(on by default for push, configurable per channel), fallback when a person has nowhere to push to, and the
embedded mode's capture."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.constants import Status
from notifications.decision import DecisionContext
from notifications.delivery import queue_drain
from notifications.models import CapturedMessage
from notifications.services import SubmitRequest, notification_prepare
from tests.conftest import client_for
from tests.factories import RecipientFactory, grant_marketing, submit

pytestmark = pytest.mark.django_db
NIGHT = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 02:00 in New York
MILESTONE = {"milestone_name": "Emergency fund"}


def steps(n, check: str) -> list[str]:
    return [f"{s['outcome']}: {s['reason']}" for s in n.decision_trace if s["check"] == check]


@pytest.fixture
def ivy(catalogue, push_service):
    person = RecipientFactory(external_id="ivy", timezone="America/New_York")
    answer = client_for("ivy").post(
        "/api/v1/me/push/subscriptions/", push_service.browser().subscription_json(), format="json"
    )
    assert answer.status_code == 201
    return person


def prepare(*, type: str, now: datetime, data: dict, channel: str | None = "push"):
    request = SubmitRequest(recipient="ivy", type=type, data=data, channel=channel)
    return notification_prepare(request, now=now, context=DecisionContext())


def test_a_marketing_push_without_consent_is_refused_with_its_reason(ivy):
    n = submit(recipient="ivy", type="milestone_reminder", channel="push", data=MILESTONE)
    assert (n.channel, n.status) == ("push", Status.SUPPRESSED)
    assert steps(n, "consent") == ["refuse: no consent for marketing push (engagement): never granted"]
    grant_marketing(ivy, "push")
    allowed = submit(recipient="ivy", type="milestone_reminder", channel="push", data=MILESTONE)
    assert allowed.status != Status.SUPPRESSED
    assert steps(allowed, "consent")[0].startswith("pass: consent for marketing")


def test_quiet_hours_defer_a_push_at_night_unless_push_is_taken_off_the_quiet_channels(ivy, settings):
    grant_marketing(ivy, "push")
    deferred = prepare(type="milestone_reminder", now=NIGHT, data=MILESTONE)
    assert deferred.send_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # 08:00 in New York
    assert steps(deferred, "quiet_hours")[0].startswith("defer:"), deferred.decision_trace

    settings.COMMHUB = {**settings.COMMHUB, "QUIET_HOURS_CHANNELS": ["sms"]}  # push buzzes at night here
    at_once = prepare(type="milestone_reminder", now=NIGHT, data=MILESTONE)
    assert at_once.send_at == NIGHT
    assert "pass: quiet hours do not apply to push" in steps(at_once, "quiet_hours")


def test_a_critical_alert_for_someone_with_no_browser_or_device_falls_back_to_sms(catalogue, push_service):
    RecipientFactory(external_id="jo", phone="+14155550142")
    n = submit(recipient="jo", type="security_alert", data={})
    assert (n.channel, n.status) == ("sms", Status.QUEUED)
    assert steps(n, "channel") == [
        "skip: recipient has no push subscription for push",
        "fallback: sms is security_alert's fallback channel",
    ]
    # once a device is registered, the same alert is pushed
    client_for("jo").post("/api/v1/me/push/devices/", {"token": "fcm-token-jo", "platform": "ios"})
    assert submit(recipient="jo", type="security_alert", data={}).channel == "push"


def test_the_embedded_mode_captures_one_push_per_browser_and_device(catalogue, settings, user_jwt):
    settings.PUSH_PROVIDER = "capture"
    settings.PUSH_ENDPOINT_HOSTS = ["fcm.googleapis.com"]
    RecipientFactory(external_id="kim", phone="")
    me = client_for("kim")
    browser = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc123",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
    }
    assert me.post("/api/v1/me/push/subscriptions/", browser, format="json").status_code == 201
    assert me.post("/api/v1/me/push/devices/", {"token": "fcm-token-kim"}).status_code == 201
    n = submit(recipient="kim", type="security_alert", data={"event": "Password changed"})
    queue_drain(queue=n.queue, threads=1)
    n.refresh_from_db()
    assert n.status == Status.SENT
    captured = CapturedMessage.objects.filter(notification=n).order_by("to")
    assert [(c.channel, c.to, c.subject) for c in captured] == [
        ("push", "fcm:fcm-token-kim", "Password changed"),
        ("push", "https://fcm.googleapis.com/fcm/send/abc123", "Password changed"),
    ]
