"""Ambiguous timeouts: the request reached the provider and no answer came back. The notification is not
retried blindly: it waits as `unknown` for the provider's callback; without one, the sweeper sends it once more
(at most one duplicate) and fails it the second time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.constants import Status
from notifications.delivery import queue_drain, sweep
from notifications.feedback import FeedbackEvent, provider_event_apply
from notifications.models import DeliveryAttempt, Notification
from tests.conftest import wait_until
from tests.factories import submit
from tests.fakes.providers import MAILGUN, TWILIO

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_esp(settings, via_fakes):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": (2, 0.3)}
    via_fakes.latency = 0.6  # the fake takes (and records) the message, then answers too late
    yield via_fakes
    via_fakes.latency = 0.0


def test_a_read_timeout_leaves_the_message_unknown_and_is_not_retried(catalogue, recipient, slow_esp):
    n = submit(type="monthly_report", data={"month": "May"})
    result = queue_drain(queue="email_reports")
    n.refresh_from_db()
    assert (n.status, n.attempts, result.retrying, result.failed) == (Status.UNKNOWN, 1, 0, 0)
    assert DeliveryAttempt.objects.get(notification=n).outcome == "unknown"
    assert "waiting for its callback" in n.decision_trace[-1]["reason"]
    assert wait_until(lambda: len(slow_esp.calls(MAILGUN)) == 1, timeout=3)  # the provider did get it
    queue_drain(queue="email_reports")
    sweep()  # within the settle time: nothing happens
    assert len(slow_esp.calls(MAILGUN)) == 1 and Notification.objects.get(pk=n.pk).status == Status.UNKNOWN


def test_the_providers_callback_settles_it(catalogue, recipient, slow_esp):
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    provider_event_apply(
        FeedbackEvent(
            provider="mailgun", event_id="evt-1", event_type="delivered", channel="email", notification_id=str(n.pk)
        )
    )
    n.refresh_from_db()
    assert n.status == Status.DELIVERED


def test_without_a_callback_the_sweeper_resends_once_then_fails(catalogue, recipient, slow_esp, settings):
    n = submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    settings.COMMHUB = {**settings.COMMHUB, "UNKNOWN_SETTLE_SECONDS": 60}
    Notification.objects.filter(pk=n.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep().unknown_requeued == 1
    queue_drain(queue="email_reports")  # still slow: unknown again
    # the one duplicate we accept rather than never delivering
    assert wait_until(lambda: len(slow_esp.calls(MAILGUN)) == 2, timeout=3)
    Notification.objects.filter(pk=n.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep().unknown_failed == 1
    n.refresh_from_db()
    assert n.status == Status.FAILED and n.error_code == "unknown"
    assert len(slow_esp.calls(MAILGUN)) == 2


def test_a_twilio_read_timeout_is_unknown_too(catalogue, recipient, via_fakes, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    via_fakes.latency = 0.6
    try:
        n = submit()
        queue_drain(queue="sms_critical")
    finally:
        via_fakes.latency = 0.0
    n.refresh_from_db()
    assert n.status == Status.UNKNOWN and wait_until(lambda: len(via_fakes.calls(TWILIO)) == 1, timeout=3)
    assert not Notification.objects.filter(fallback_of=n).exists()  # no fallback for a message that may be out
