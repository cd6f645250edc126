"""Quiet hours at fixed clocks: marketing SMS outside 08:00-21:00 local is deferred to 08:00 local (DST-correct),
critical alerts are not."""

from datetime import UTC, datetime, time

import pytest

from notifications.constants import Status
from notifications.decision import DecisionContext
from notifications.services import SubmitRequest, notification_prepare
from preferences.quiet_hours import next_allowed_moment
from tests.factories import RecipientFactory, grant_marketing

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def prepare(recipient, *, type="weekly_checkin", now, data=None):
    req = SubmitRequest(recipient=recipient.external_id, type=type, data=data or {}, channel="sms")
    return notification_prepare(req, now=now, context=DecisionContext())


ALERT = {"amount": "$120.00", "account": "checking"}

# (zone, the moment as UTC, the expected next allowed moment as UTC, what it is locally)
CASES = [
    # New York, the spring-forward day (2026-03-08, 02:00 EST -> 03:00 EDT)
    ("America/New_York", utc(2026, 3, 8, 10, 0), utc(2026, 3, 8, 12, 0), "06:00 EDT -> 08:00 EDT"),
    # the evening before it: 21:30 EST; the next 08:00 is already summer time (12:00 UTC, not 13:00)
    ("America/New_York", utc(2026, 3, 8, 2, 30), utc(2026, 3, 8, 12, 0), "21:30 EST -> 08:00 EDT"),
    # New York, the fall-back day (2026-11-01, 02:00 EDT -> 01:00 EST)
    ("America/New_York", utc(2026, 11, 1, 11, 0), utc(2026, 11, 1, 13, 0), "06:00 EST -> 08:00 EST"),
    # the evening before it: 21:30 EDT; the next 08:00 is winter time (13:00 UTC, not 12:00)
    ("America/New_York", utc(2026, 11, 1, 1, 30), utc(2026, 11, 1, 13, 0), "21:30 EDT -> 08:00 EST"),
    # Kolkata, UTC+05:30, no DST
    ("Asia/Kolkata", utc(2026, 6, 10, 0, 30), utc(2026, 6, 10, 2, 30), "06:00 IST -> 08:00 IST"),
    ("Asia/Kolkata", utc(2026, 6, 10, 16, 0), utc(2026, 6, 11, 2, 30), "21:30 IST -> 08:00 IST next day"),
]


@pytest.mark.parametrize(("zone", "now", "expected", "label"), CASES, ids=[c[3] for c in CASES])
def test_marketing_sms_outside_the_window_is_deferred_to_0800_local(catalogue, zone, now, expected, label):
    recipient = RecipientFactory(external_id=f"tz-{zone}", timezone=zone)
    grant_marketing(recipient, "sms")
    n = prepare(recipient, now=now)
    assert (n.status, n.send_at) == (Status.SCHEDULED, expected), label
    step = next(s for s in n.decision_trace if s["check"] == "quiet_hours")
    assert step["outcome"] == "defer"
    assert "outside the send window 08:00-21:00" in step["reason"] and "08:00" in step["reason"], step["reason"]


@pytest.mark.parametrize(("zone", "now", "expected", "label"), CASES, ids=[c[3] for c in CASES])
def test_a_critical_alert_is_not_deferred(catalogue, zone, now, expected, label):
    recipient = RecipientFactory(external_id=f"tz-{zone}", timezone=zone)
    n = prepare(recipient, type="financial_alert", now=now, data=ALERT)
    assert (n.status, n.send_at) == (Status.QUEUED, now)
    step = next(s for s in n.decision_trace if s["check"] == "quiet_hours")
    assert step == {"check": "quiet_hours", "outcome": "pass", "reason": "financial_alert bypasses quiet hours"}


def test_inside_the_window_it_goes_now(catalogue):
    recipient = RecipientFactory(external_id="ny", timezone="America/New_York")
    grant_marketing(recipient, "sms")
    now = utc(2026, 3, 9, 18, 0)  # 14:00 EDT
    n = prepare(recipient, now=now)
    assert (n.status, n.send_at) == (Status.QUEUED, now)
    assert "14:00 America/New_York is inside the send window" in n.decision_trace[-3]["reason"]


def test_exactly_0800_is_allowed_and_2100_is_not(catalogue):
    recipient = RecipientFactory(external_id="ny", timezone="America/New_York")
    assert next_allowed_moment(recipient, utc(2026, 6, 1, 12, 0)) == utc(2026, 6, 1, 12, 0)  # 08:00 EDT
    assert next_allowed_moment(recipient, utc(2026, 6, 2, 1, 0)) == utc(2026, 6, 2, 12, 0)  # 21:00 EDT


def test_a_recipients_own_window_overrides_the_default(catalogue):
    recipient = RecipientFactory(
        external_id="late-riser", timezone="Europe/Paris", send_window_start=time(10), send_window_end=time(20)
    )
    # 09:00 in Paris (CEST, UTC+2) is inside the default window but before this person's 10:00
    assert next_allowed_moment(recipient, utc(2026, 6, 1, 7, 0)) == utc(2026, 6, 1, 8, 0)


def test_an_overnight_window_wraps_midnight(catalogue):
    recipient = RecipientFactory(
        external_id="night-shift", timezone="UTC", send_window_start=time(22), send_window_end=time(6)
    )
    assert next_allowed_moment(recipient, utc(2026, 6, 1, 23, 0)) == utc(2026, 6, 1, 23, 0)
    assert next_allowed_moment(recipient, utc(2026, 6, 1, 12, 0)) == utc(2026, 6, 1, 22, 0)


def test_an_unknown_zone_waits_until_it_is_daytime_on_both_coasts(catalogue):
    recipient = RecipientFactory(external_id="nowhere", timezone="")
    grant_marketing(recipient, "sms")
    # 13:00 UTC = 09:00 in New York but 06:00 in Los Angeles: wait for 08:00 in LA (15:00 UTC)
    n = prepare(recipient, now=utc(2026, 6, 1, 13, 0))
    assert n.send_at == utc(2026, 6, 1, 15, 0)
    assert "recipient's zone unknown" in next(s for s in n.decision_trace if s["check"] == "quiet_hours")["reason"]
    # 01:30 UTC = 21:30 in New York (too late there) though 18:30 in LA: wait for the next LA morning
    assert next_allowed_moment(recipient, utc(2026, 6, 2, 1, 30)) == utc(2026, 6, 2, 15, 0)


def test_quiet_hours_do_not_apply_to_email_by_default(catalogue):
    recipient = RecipientFactory(external_id="reader", timezone="America/New_York")
    grant_marketing(recipient, "email")
    now = utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    req = SubmitRequest(recipient="reader", type="educational_content", data={"title": "T", "summary": "S"})
    n = notification_prepare(req, now=now, context=DecisionContext())
    assert (n.status, n.send_at) == (Status.QUEUED, now)
    assert {"check": "quiet_hours", "outcome": "pass", "reason": "quiet hours do not apply to email"} in (
        n.decision_trace
    )
