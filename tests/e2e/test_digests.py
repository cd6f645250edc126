"""A weekly digest sent by the real processes: five session requests in the week before New York leaves daylight
saving, two beats running the digest pass every second, a worker sending through the fake Mailgun. One email
each, listing the five requests; a therapist with no request in the week gets nothing."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from notifications.models import Notification, NotificationType
from tests.conftest import wait_until
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN
from triggers.models import DigestWindow, Rule
from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_two_beats_send_the_weekly_digest_once_on_monday_nine_local(catalogue, fake, start_worker, start_beat):
    RecipientFactory(external_id="dr-lee", email="lee@clinic.example", timezone="America/New_York")
    RecipientFactory(external_id="dr-idle", email="idle@clinic.example", timezone="America/New_York")
    rule = Rule.objects.create(key="weekly-requests", event_name="session.requested")
    rule_version_publish(
        version=rule_version_draft(
            rule=rule,
            notification_type=NotificationType.objects.get(key="activity_digest"),
            recipients_from="expression",
            recipients_expression="data.therapist",
            data_map={"title": 'data.client + " asked for " + data.when'},
            digest="weekly",
            digest_weekday=0,
            digest_time=time(9),
        )
    )
    days = (27, 28, 29, 30, 31)  # Tuesday to Saturday; daylight saving ends on Sunday 1 November
    events_ingest(
        [
            EventIn(
                uid=f"req-{day}",
                name="session.requested",
                occurred_at=datetime(2026, 10, day, 16, tzinfo=UTC),
                data={"therapist": "dr-lee", "client": f"Client {day}", "when": f"Oct {day}"},
            )
            for day in days
        ]
    )
    window = DigestWindow.objects.get()
    assert window.closes_at == datetime(2026, 11, 2, 14, tzinfo=UTC)  # Monday 09:00 EST, past now: due

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="triggers.digests_flush").update(interval=every_second)
    PeriodicTasks.update_changed()
    start_worker(fake, concurrency=2)
    start_beat(fake)
    start_beat(fake)
    assert wait_until(lambda: len(fake.sent(MAILGUN)) >= 1, timeout=60)
    clock.sleep(4)  # both beats keep running the pass: a second email would show now
    (mail,) = fake.sent(MAILGUN)
    assert mail.fields["to"] == "lee@clinic.example" and "5 new" in mail.fields["subject"]
    for day in days:
        assert f"Client {day} asked for Oct {day}" in mail.fields["text"]
    assert Notification.objects.count() == 1 and not Notification.objects.filter(recipient__external_id="dr-idle")
    window.refresh_from_db()
    assert window.state == "sent" and window.notification is not None
