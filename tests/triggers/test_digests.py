"""Digests: a rule's events for one person gathered in a window (sliding, or weekly in the recipient's own time,
across daylight saving), then one notification listing them, with a cap and "and N more"."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from notifications.models import Notification, NotificationType
from tests.factories import RecipientFactory
from triggers.digests import digests_flush, weekly_close
from triggers.models import DigestWindow, Rule, RuleRun
from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

pytestmark = pytest.mark.django_db
NEW_YORK = "America/New_York"


def digest_rule(key: str, **behaviour):
    rule = Rule.objects.create(key=key, event_name="session.requested")
    ntype = NotificationType.objects.get(key="activity_digest")
    behaviour = {
        "recipients_from": "expression",
        "recipients_expression": "data.therapist",
        "data_map": {"title": 'data.client + " asked for " + data.when'},
        **behaviour,
    }
    return rule_version_publish(version=rule_version_draft(rule=rule, notification_type=ntype, **behaviour))


def requests_for(therapist: str, when: list[datetime], start: int = 0) -> list[EventIn]:
    return [
        EventIn(
            uid=f"{therapist}-{start + i}",
            name="session.requested",
            occurred_at=at,
            data={"therapist": therapist, "client": f"client {start + i}", "when": f"{at:%a}"},
        )
        for i, at in enumerate(when)
    ]


def test_monday_nine_local_follows_daylight_saving():
    # New York leaves daylight saving on Sunday 1 November 2026: the Monday after, 09:00 is 14:00 UTC, not 13:00
    summer, zone = weekly_close(datetime(2026, 10, 28, 15, tzinfo=UTC), weekday=0, at=time(9), zone_name=NEW_YORK)
    winter, _ = weekly_close(datetime(2026, 10, 30, 15, tzinfo=UTC), weekday=0, at=time(9), zone_name=NEW_YORK)
    assert summer == winter == datetime(2026, 11, 2, 14, tzinfo=UTC) and zone == NEW_YORK
    # and enters it on 8 March 2026: the Monday after, 09:00 is 13:00 UTC
    spring, _ = weekly_close(datetime(2026, 3, 7, 12, tzinfo=UTC), weekday=0, at=time(9), zone_name=NEW_YORK)
    assert spring == datetime(2026, 3, 9, 13, tzinfo=UTC)
    # a Monday after 09:00 local waits for the next one; an unknown zone is UTC
    later, _ = weekly_close(datetime(2026, 11, 2, 15, tzinfo=UTC), weekday=0, at=time(9), zone_name=NEW_YORK)
    assert later == datetime(2026, 11, 9, 14, tzinfo=UTC)
    assert weekly_close(datetime(2026, 11, 2, 10, tzinfo=UTC), weekday=0, at=time(9), zone_name="")[0] == datetime(
        2026, 11, 9, 9, tzinfo=UTC
    )


def test_five_requests_in_a_week_make_one_email_on_monday_at_nine_local(catalogue):
    RecipientFactory(external_id="dr-lee", email="lee@clinic.example", timezone=NEW_YORK)
    RecipientFactory(external_id="dr-kim", email="kim@clinic.example", timezone="Europe/Paris")
    digest_rule("weekly-requests", digest="weekly", digest_weekday=0, digest_time=time(9))
    week = [datetime(2026, 10, day, 16, tzinfo=UTC) for day in (27, 28, 29, 30, 31)]
    events_ingest(requests_for("dr-lee", week) + requests_for("dr-kim", week[:2]))
    assert Notification.objects.count() == 0
    assert RuleRun.objects.filter(outcome="digested").count() == 7
    lee = DigestWindow.objects.get(recipient="dr-lee")
    kim = DigestWindow.objects.get(recipient="dr-kim")
    assert (lee.items_count, lee.closes_at) == (5, datetime(2026, 11, 2, 14, tzinfo=UTC))  # 09:00 EST
    assert kim.closes_at == datetime(2026, 11, 2, 8, tzinfo=UTC)  # 09:00 in Paris (CET since 25 October)

    assert digests_flush(now=datetime(2026, 11, 2, 13, 59, tzinfo=UTC)) == 1  # Paris's Monday 09:00 has passed
    assert digests_flush(now=datetime(2026, 11, 2, 14, tzinfo=UTC)) == 1
    assert digests_flush(now=datetime(2026, 11, 2, 15, tzinfo=UTC)) == 0  # sent once
    sent = Notification.objects.get(recipient__external_id="dr-lee")
    assert sent.data["count"] == 5 and sent.data["more"] == 0
    assert [item["title"] for item in sent.data["items"]] == [
        f"client {i} asked for {d}" for i, d in enumerate(("Tue", "Wed", "Thu", "Fri", "Sat"))
    ]
    assert "digest of 5 event(s) `session.requested` for rule `weekly-requests` v1" in sent.decision_trace[0]["reason"]
    assert "Mon 09:00 America/New_York" in sent.decision_trace[0]["reason"]
    # an event after the send opens the next week's window
    events_ingest(requests_for("dr-lee", [datetime(2026, 11, 3, 16, tzinfo=UTC)], start=5))
    assert DigestWindow.objects.get(recipient="dr-lee", state="open").closes_at == datetime(2026, 11, 9, 14, tzinfo=UTC)


def test_a_sliding_window_caps_its_list_and_says_how_many_more(catalogue):
    RecipientFactory(external_id="dr-ray", email="ray@clinic.example")
    digest_rule("bursts", digest="sliding", digest_minutes=30, digest_max_items=3)
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    events_ingest(requests_for("dr-ray", [start + timedelta(minutes=m) for m in (0, 5, 10, 20, 29)]))
    window = DigestWindow.objects.get()
    assert window.closes_at == start + timedelta(minutes=30) and window.items_count == 5
    # the same events again (a producer's retry) add nothing
    events_ingest(requests_for("dr-ray", [start]))
    assert DigestWindow.objects.get().items_count == 5
    assert digests_flush(now=start + timedelta(minutes=31)) == 1
    sent = Notification.objects.get()
    assert (sent.data["count"], sent.data["more"], len(sent.data["items"])) == (5, 2, 3)


def test_a_digest_and_a_delay_together_are_refused(catalogue):
    rule = Rule.objects.create(key="both", event_name="x")
    with pytest.raises(Exception, match="no delay as well"):
        rule_version_draft(
            rule=rule,
            notification_type=NotificationType.objects.get(key="activity_digest"),
            digest="sliding",
            delay_seconds=60,
        )
