"""What is checked again just before the provider call, because the row may have waited since it was accepted:
the recipient's send window (a marketing SMS accepted at 20:58 local that a paced sender holds until after 21:00
must not go out at night: it is held until 08:00), and the message's expiry (a critical alert after a two-hour
outage is too late: it ends `expired`, nothing is sent). Clocks are moved with time-machine; the rate limit runs on
the database store, whose clock is Python's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.constants import Status
from notifications.delivery import notifications_promote_due, queue_drain, sweep
from notifications.models import Notification, TypeChannel
from notifications.ratelimit import reset_rate_limits
from tests.factories import RecipientFactory, grant_marketing, submit
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db

# 2026-06-01 in New York is daylight time (UTC-4): 20:58 EDT is 00:58 UTC on the 2nd, 08:00 EDT is 12:00 UTC
AT_2058 = datetime(2026, 6, 2, 0, 58, tzinfo=UTC)
AT_2100_30 = datetime(2026, 6, 2, 1, 0, 30, tzinfo=UTC)
AT_0759 = datetime(2026, 6, 2, 11, 59, tzinfo=UTC)
AT_0800 = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
GOAL = {"milestone_name": "Emergency fund"}


@pytest.fixture
def paced(settings, catalogue, via_fakes):
    """milestone_reminder (marketing SMS, no frequency cap) limited to 1 a minute, on the database limiter."""
    settings.COMMHUB = {**settings.COMMHUB, "RATE_LIMIT_REDIS_URL": "", "TYPE_RATE_LIMITS": True}
    TypeChannel.objects.filter(notification_type__key="milestone_reminder", channel="sms").update(
        rate_limit_per_minute=1
    )
    reset_rate_limits()
    ny = RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    grant_marketing(ny, "sms", category="engagement")
    return via_fakes


def test_a_marketing_sms_held_past_2100_by_a_paced_sender_goes_out_at_0800_not_before(paced):
    with time_machine.travel(AT_2058, tick=False):
        first, second = (submit(recipient="ny", type="milestone_reminder", data=GOAL) for _ in range(2))
        assert first.status == second.status == Status.QUEUED  # 20:58: inside the window
        queue = first.queue
        queue_drain(queue=queue, threads=1)
    assert Notification.objects.get(pk=first.pk).status == Status.SENT
    held = Notification.objects.get(pk=second.pk)
    assert held.status == Status.QUEUED and held.decision_trace[-1]["check"] == "rate limit"  # the pace held it

    with time_machine.travel(AT_2100_30, tick=False):  # a minute later the pace has room, the window has closed
        result = queue_drain(queue=queue, threads=1)
    assert result.deferred == 1 and result.sent == 0
    held.refresh_from_db()
    assert (held.status, held.send_at) == (Status.SCHEDULED, AT_0800)
    step = held.decision_trace[-1]
    assert (step["check"], step["outcome"]) == ("quiet_hours", "defer")
    assert step["reason"] == (
        "2026-06-01 21:00 America/New_York is outside the send window 08:00-21:00 at send time (it waited in the "
        "queue); deferred to 2026-06-02 08:00 America/New_York"
    )
    assert len(paced.sent(TWILIO)) == 1

    with time_machine.travel(AT_0759, tick=False):
        assert notifications_promote_due() == {}
        queue_drain(queue=queue, threads=1)
    assert Notification.objects.get(pk=second.pk).status == Status.SCHEDULED and len(paced.sent(TWILIO)) == 1

    with time_machine.travel(AT_0800, tick=False):
        assert notifications_promote_due() == {queue: 1}
        queue_drain(queue=queue, threads=1)
    sent = Notification.objects.get(pk=second.pk)
    assert (sent.status, sent.sent_at) == (Status.SENT, AT_0800)
    assert len(paced.sent(TWILIO)) == 2
    assert sent.attempts == 1  # holding it spent no attempt


def test_a_critical_alert_is_never_held_by_the_window_at_send_time(catalogue, via_fakes):
    RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    with time_machine.travel(AT_2100_30, tick=False):
        alert = submit(recipient="ny")
        queue_drain(queue=alert.queue, threads=1)
    assert Notification.objects.get(pk=alert.pk).status == Status.SENT


# --- expiry: a message not handed to a provider within its type's time to live is never sent late ---------


def test_a_critical_alert_after_a_two_hour_outage_expires_and_no_provider_is_called(catalogue, via_fakes):
    RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    with time_machine.travel(AT_2058, tick=False):
        alert = submit(recipient="ny")  # financial_alert: 30 minutes to live
    assert alert.expires_at == AT_2058 + timedelta(minutes=30)
    with time_machine.travel(AT_2058 + timedelta(hours=2), tick=False):  # the workers were down until now
        result = queue_drain(queue=alert.queue, threads=1)
    assert (result.expired, result.sent) == (1, 0)
    expired = Notification.objects.get(pk=alert.pk)
    assert (expired.status, expired.attempts, expired.error_code) == (Status.EXPIRED, 0, "expired")
    step = expired.decision_trace[-1]
    assert (step["check"], step["outcome"]) == ("expiry", "expire")
    assert (
        step["reason"]
        == "not handed to a provider before it expired at 2026-06-02 01:28:00 UTC (90 min ago): not sent late"
    )
    assert via_fakes.calls(TWILIO) == [] and not Notification.objects.filter(fallback_of=alert).exists()


def test_within_its_time_to_live_it_is_sent(catalogue, via_fakes):
    RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    with time_machine.travel(AT_2058, tick=False):
        alert = submit(recipient="ny")
    with time_machine.travel(AT_2058 + timedelta(minutes=29), tick=False):
        queue_drain(queue=alert.queue, threads=1)
    assert Notification.objects.get(pk=alert.pk).status == Status.SENT and len(via_fakes.sent(TWILIO)) == 1


def test_the_time_to_live_counts_from_when_it_is_due(catalogue):
    RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    later = AT_2058 + timedelta(days=3)
    with time_machine.travel(AT_2058, tick=False):
        scheduled = submit(recipient="ny", send_at=later)
    assert scheduled.status == Status.SCHEDULED and scheduled.expires_at == later + timedelta(minutes=30)
    catalogue["financial_alert"].ttl_seconds = None
    catalogue["financial_alert"].save()
    with time_machine.travel(AT_2058, tick=False):
        assert submit(recipient="ny").expires_at is None  # no time to live: no expiry


def test_an_unknown_send_past_its_expiry_is_not_sent_again_by_the_sweeper(catalogue, via_fakes):
    RecipientFactory(external_id="ny", timezone="America/New_York", phone="+12125550147")
    with time_machine.travel(AT_2058, tick=False):
        alert = submit(recipient="ny")
    # its send went out and no answer came back (a read timeout): unknown, waiting for a callback
    Notification.objects.filter(pk=alert.pk).update(status=Status.UNKNOWN, updated_at=AT_2058, attempts=1)
    with time_machine.travel(AT_2058 + timedelta(hours=2), tick=False):
        result = sweep()
    assert (result.unknown_requeued, result.unknown_expired) == (0, 1)
    expired = Notification.objects.get(pk=alert.pk)
    assert expired.status == Status.EXPIRED
    assert expired.decision_trace[-1]["reason"].startswith("its first send's outcome is unknown and not handed")
    assert via_fakes.calls(TWILIO) == []
