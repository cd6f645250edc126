"""Recurring sends: created in the admin they get a django-celery-beat schedule; a run creates the right
notifications once per slot; disabling pauses the schedule; "local time" sends each recipient the message at
their own 09:00 (fixed clocks across a Monday with three timezones, two of them in daylight saving)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django_celery_beat.models import PeriodicTask

from notifications.constants import Status
from notifications.models import Notification, RecurringRun, RecurringSend
from notifications.recurring import recurring_run, recurring_save
from tests.factories import RecipientFactory, grant_marketing

pytestmark = pytest.mark.django_db

REPORT = {"month": "May", "summary": "You saved 12%."}


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "x" * 20)
    client.force_login(admin)
    return client


def form(catalogue, **overrides) -> dict:
    data = {
        "name": "May reports",
        "notification_type": catalogue["monthly_report"].pk,
        "channel": "",
        "data": json.dumps(REPORT),
        "enabled": "on",
        "audience": "filter",
        "attribute_filter": json.dumps({"plan": "pro"}),
        "recipient_ids": "",
        "minute": "0",
        "hour": "9",
        "day_of_week": "*",
        "day_of_month": "1",
        "month_of_year": "*",
        "timezone": "Europe/Paris",
        "every_seconds": "",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_admin_creates_a_recurring_send_and_its_beat_schedule(staff_client, catalogue):
    response = staff_client.post("/admin/notifications/recurringsend/add/", form(catalogue))
    assert response.status_code == 302, response.content.decode()[:2000]
    recurring = RecurringSend.objects.get()
    task = recurring.periodic_task
    assert task.task == "notifications.run_recurring" and json.loads(task.args) == [recurring.pk] and task.enabled
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, str(cron.timezone)) == ("0", "9", "1", "Europe/Paris")

    # disabling it in the admin pauses the beat schedule
    response = staff_client.post(
        f"/admin/notifications/recurringsend/{recurring.pk}/change/", form(catalogue, enabled=None)
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.enabled is False
    assert recurring_run(recurring.pk) is None  # a stale beat message for it does nothing


def test_bad_schedules_are_field_errors(staff_client, catalogue):
    response = staff_client.post(
        "/admin/notifications/recurringsend/add/",
        form(catalogue, minute="75", timezone="Mars/Olympus", audience="list", recipient_ids=""),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "minute" in errors and "timezone" in errors and "recipient_ids" in errors
    assert not RecurringSend.objects.exists() and not PeriodicTask.objects.filter(task="notifications.run_recurring")


def test_a_run_sends_to_the_matching_audience_once_per_slot(catalogue):
    for i in range(5):
        RecipientFactory(external_id=f"pro-{i}", attributes={"plan": "pro"})
    RecipientFactory(external_id="free", attributes={"plan": "free"})
    recurring = recurring_save(
        RecurringSend(
            name="reports",
            notification_type=catalogue["monthly_report"],
            audience=RecurringSend.Audience.FILTER,
            attribute_filter={"plan": "pro"},
            data=REPORT,
        )
    )
    now = datetime(2027, 1, 1, 9, 0, 12, tzinfo=UTC)
    run = recurring_run(recurring.pk, now=now)
    assert (run.created, run.refused, run.errors) == (5, 0, 0)
    assert set(Notification.objects.values_list("recipient__external_id", flat=True)) == {f"pro-{i}" for i in range(5)}
    assert recurring_run(recurring.pk, now=now + timedelta(seconds=20)) is None  # same minute: a second beat
    assert recurring_run(recurring.pk, now=now + timedelta(minutes=1)).created == 5
    assert RecurringRun.objects.count() == 2


def test_a_definition_missing_template_data_is_refused_at_save(catalogue, recipient):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        recurring_save(
            RecurringSend(name="broken", notification_type=catalogue["payment_reminder"], data={"bill_name": "Rent"})
        )
    problems = refused.value.message_dict["data"]
    assert any(p.startswith("due_date: This variable is required") for p in problems), problems
    assert not RecurringSend.objects.exists()


def test_a_run_whose_data_no_longer_fits_records_readable_errors(catalogue, recipient):
    # saved when it fitted; a template published since needs more (the save-time check cannot see the future)
    recurring = RecurringSend.objects.create(
        name="outdated", notification_type=catalogue["payment_reminder"], data={"bill_name": "Rent"}
    )
    run = recurring_run(recurring.pk)
    assert run.errors == 1 and run.created == 0
    assert run.detail.startswith("123: data: amount: This variable is required by the template.; due_date:"), run.detail
    assert "{" not in run.detail  # words, not a Python dict


def monday_nine_local(catalogue, *, timezone: str) -> RecurringSend:
    """weekly_checkin every Monday at 09:00 in each recipient's own zone (`timezone` for those without one)."""
    return recurring_save(
        RecurringSend(
            name="Monday check-in",
            notification_type=catalogue["weekly_checkin"],
            minute="0",
            hour="9",
            day_of_week="mon",
            timezone=timezone,
            local_time=True,
        )
    )


def test_local_time_sends_at_each_recipients_nine_oclock(catalogue):
    zones = {"kolkata": "Asia/Kolkata", "london": "Europe/London", "new-york": "America/New_York", "none": ""}
    for name, zone in zones.items():
        grant_marketing(RecipientFactory(external_id=name, timezone=zone), "sms", category="engagement")
    recurring = monday_nine_local(catalogue, timezone="America/Los_Angeles")  # for recipients without a zone
    assert recurring.periodic_task.crontab.hour == "*"  # it runs hourly and picks whose 09:00 falls in the hour
    # every hourly slot from Saturday noon to Tuesday noon UTC around Monday 29 March 2027: BST began on the
    # 28th, US daylight saving on the 14th
    slot = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    while slot < datetime(2027, 3, 30, 12, 0, tzinfo=UTC):
        recurring_run(recurring.pk, now=slot + timedelta(seconds=3))
        slot += timedelta(hours=1)
    sent_at = {n.recipient.external_id: n.send_at for n in Notification.objects.select_related("recipient")}
    assert sent_at == {
        "kolkata": datetime(2027, 3, 29, 3, 30, tzinfo=UTC),  # 09:00 IST (+05:30)
        "london": datetime(2027, 3, 29, 8, 0, tzinfo=UTC),  # 09:00 BST (+01:00)
        "new-york": datetime(2027, 3, 29, 13, 0, tzinfo=UTC),  # 09:00 EDT (-04:00)
        "none": datetime(2027, 3, 29, 16, 0, tzinfo=UTC),  # 09:00 PDT (-07:00), the send's zone
    }
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SCHEDULED}
    assert RecurringRun.objects.filter(created__gt=0).count() == 4  # four hours had someone's 09:00


def test_run_now_on_a_local_time_send_says_which_zones_are_due_and_when_the_others_run(catalogue):
    """Run now at 08:10 UTC on a Monday: London's 09:00 (BST) falls in this hour, New York's is 13:00 UTC."""
    for name, zone in {"london": "Europe/London", "new-york": "America/New_York"}.items():
        grant_marketing(RecipientFactory(external_id=name, timezone=zone), "sms", category="engagement")
    recurring = monday_nine_local(catalogue, timezone="UTC")
    run = recurring_run(recurring.pk, now=datetime(2027, 3, 29, 8, 10, tzinfo=UTC))
    assert run.created == 1
    assert run.detail.splitlines()[0] == (
        "Due in the hour from 2027-03-29 08:00 UTC: Europe/London (1) at 08:00 UTC. "
        "The others run at 9:00 their time: America/New_York (1) 2027-03-29 13:00 UTC."
    )


def _hourly(recurring, *hours: int, minute: int = 0, day=(2027, 1, 4)) -> list:
    return [recurring_run(recurring.pk, now=datetime(*day, h, minute, 5, tzinfo=UTC)) for h in hours]


def _zones_nine_local(catalogue) -> RecurringSend:
    for name, zone in {"paris": "Europe/Paris", "london": "Europe/London", "new-york": "America/New_York"}.items():
        grant_marketing(RecipientFactory(external_id=name, timezone=zone), "sms", category="engagement")
    return monday_nine_local(catalogue, timezone="UTC")


@pytest.mark.parametrize("beat_back_at", ["09:45", "10:00"])
def test_an_hour_missed_while_beat_was_down_is_made_up_once_flagged_late(catalogue, beat_back_at):
    """Monday 4 January 2027: 09:00 is 08:00 UTC in Paris, 09:00 UTC in London, 14:00 UTC in New York. Beat is down
    from 08:30 to 09:45: beat fires the overdue run when it comes back (09:45), or only the 10:00 one runs."""
    recurring = _zones_nine_local(catalogue)
    _hourly(recurring, 7, 8)
    assert list(Notification.objects.values_list("recipient__external_id", flat=True)) == ["paris"]
    if beat_back_at == "09:45":
        (back,) = _hourly(recurring, 9, minute=45)
        assert (back.slot.hour, back.late, back.created) == (9, True, 1)
    again = [recurring_run(recurring.pk, now=datetime(2027, 1, 4, 10, 0, 5, tzinfo=UTC)) for _ in range(2)]
    assert again[1] is None  # a second beat firing the same hour: nothing more
    runs = {r.slot.hour: r for r in RecurringRun.objects.filter(recurring=recurring)}
    assert sorted(runs) == [7, 8, 9, 10] and runs[9].late and not runs[10].late and not runs[8].late
    assert runs[9].created == 1 and "Europe/London (1)" in runs[9].detail
    london = Notification.objects.filter(recipient__external_id="london")
    assert london.count() == 1 and london.get().send_at == datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert not Notification.objects.filter(recipient__external_id="new-york").exists()  # its 09:00 is still to come


def test_hours_missed_beyond_the_grace_are_recorded_as_missed_not_sent(catalogue, settings):
    recurring = _zones_nine_local(catalogue)
    _hourly(recurring, 7, 8)
    (noon,) = _hourly(recurring, 12, minute=10)  # beat down from 08:30 to 12:10; the grace is 2 hours
    runs = {r.slot.hour: r for r in RecurringRun.objects.filter(recurring=recurring)}
    assert sorted(runs) == [7, 8, 9, 10, 11, 12]
    assert runs[9].missed and runs[9].created == 0 and "older than the 2:00:00 catch-up grace" in runs[9].detail
    assert runs[10].missed  # 2 h 10 min old at 12:10
    assert runs[11].late and not runs[11].missed and noon.slot.hour == 12 and not noon.late
    assert not Notification.objects.filter(recipient__external_id="london").exists()  # 09:00 was missed for good


def test_a_paused_send_does_not_make_up_the_hours_it_was_paused(catalogue):
    recurring = _zones_nine_local(catalogue)
    _hourly(recurring, 7, 8)
    recurring.enabled = False
    recurring_save(recurring)
    assert recurring_run(recurring.pk, now=datetime(2027, 1, 4, 9, 0, 5, tzinfo=UTC)) is None  # paused: no run
    RecurringSend.objects.filter(pk=recurring.pk).update(
        enabled=True, updated_at=datetime(2027, 1, 4, 9, 50, tzinfo=UTC)
    )
    _hourly(recurring, 10)
    assert sorted(r.slot.hour for r in RecurringRun.objects.filter(recurring=recurring)) == [7, 8, 10]
    assert not Notification.objects.filter(recipient__external_id="london").exists()
