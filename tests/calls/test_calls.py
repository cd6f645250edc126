"""Staff call tasks: reminders at their offsets (time-travelled: `now` is given), once even with two beats; an
outcome ends them; the callee's consent and quiet hours decide their reminder; a missed call alerts once;
click-to-call through the real Twilio client against the fake's Calls API, and its signed status callbacks;
the API's field errors and rescheduling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from twilio.request_validator import RequestValidator

from calls.models import Call, CallReminder
from calls.services import call_outcome_record, call_schedule, calls_mark_missed, calls_remind
from notifications.constants import Status
from notifications.models import Notification
from preferences.models import ConsentAction
from preferences.services import Evidence, consent_record, recipient_upsert
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN, TWILIO_VOICE

pytestmark = pytest.mark.django_db


@pytest.fixture
def sam(db):
    """A staff member with an email (their reminders) and a phone on staff:sam (click-to-call rings it)."""
    user = get_user_model().objects.create_user("sam", "sam@bank.example", "x" * 20, is_staff=True)
    recipient_upsert(external_id="staff:sam", phone="+14155550100")
    return user


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    return (timezone.now() + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)


def reminders(type_key: str) -> list[Notification]:
    return list(Notification.objects.filter(notification_type__key=type_key).order_by("created_at"))


def test_a_10_oclock_call_reminds_its_caller_at_09_45_once(catalogue, sam, via_fakes, recipient, settings):
    settings.CALL_REMINDER_MINUTES = [15]
    call = call_schedule(caller=sam, callee=recipient, reason="Review the budget", scheduled_at=tomorrow_at(10))
    assert calls_remind(now=tomorrow_at(9, 44)) == 0
    assert calls_remind(now=tomorrow_at(9, 45)) == 1
    assert calls_remind(now=tomorrow_at(9, 45)) == 0  # a second beat: taken already
    assert calls_remind(now=tomorrow_at(9, 50)) == 0
    (n,) = reminders("call_reminder")
    assert n.recipient.external_id == "staff:sam" and n.channel == "email" and n.to_address == "sam@bank.example"
    assert n.data["minutes"] == 15 and n.data["callee"] == "123" and n.data["reason"] == "Review the budget"
    (reminder,) = CallReminder.objects.filter(call=call)
    assert (reminder.whom, reminder.minutes_before, reminder.notification_id) == ("caller", 15, n.pk)


def test_with_beat_down_only_the_latest_due_reminder_goes(catalogue, sam, via_fakes, recipient, settings):
    settings.CALL_REMINDER_MINUTES = [60, 15]
    call = call_schedule(caller=sam, callee=recipient, reason="x", scheduled_at=tomorrow_at(10))
    assert calls_remind(now=tomorrow_at(9, 50)) == 1  # beat was down from 08:55
    said = dict(CallReminder.objects.filter(call=call).values_list("minutes_before", "said"))
    assert said[60].startswith("skipped") and said[15] == Status.QUEUED
    assert len(reminders("call_reminder")) == 1


def test_recording_an_outcome_stops_further_reminders(catalogue, sam, via_fakes, recipient, settings):
    settings.CALL_REMINDER_MINUTES = [60, 15]
    call = call_schedule(caller=sam, callee=recipient, reason="x", scheduled_at=tomorrow_at(10))
    assert calls_remind(now=tomorrow_at(9, 0)) == 1
    call_outcome_record(call=call, outcome="completed", notes="Early: she called us", actor=sam)
    assert calls_remind(now=tomorrow_at(9, 45)) == 0
    call.refresh_from_db()
    assert (call.state, call.outcome, call.outcome_by) == ("done", "completed", "sam")


def _zone_where_it_is(hour: int) -> str:
    """An Etc/GMT zone whose local hour is `hour` now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(UTC).hour + 36) % 24 - 12
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_a_callee_reminder_respects_quiet_hours_and_consent(catalogue, sam, via_fakes, settings):
    settings.CALL_REMINDER_MINUTES, settings.CALL_CALLEE_REMINDER_MINUTES = [45], [60]
    asleep = RecipientFactory(external_id="night", phone="+14155550177", timezone=_zone_where_it_is(3))
    awake = RecipientFactory(external_id="day", phone="+14155550178", timezone=_zone_where_it_is(13))
    withdrawn = RecipientFactory(external_id="no", phone="+14155550179", timezone=_zone_where_it_is(13))
    for channel in ("sms", "email"):
        consent_record(
            recipient=withdrawn,
            channel=channel,
            purpose="transactional",
            action=ConsentAction.WITHDRAWN,
            evidence=Evidence(source="api"),
        )
    soon = timezone.now() + timedelta(minutes=30)
    calls = [
        call_schedule(caller=sam, callee=who, reason="Your loan", scheduled_at=soon, remind_callee=True)
        for who in (asleep, awake, withdrawn)
    ]
    calls_remind()
    said = {c.callee.external_id: CallReminder.objects.get(call=c, whom="callee").said for c in calls if c.callee}
    assert said["day"] == Status.QUEUED
    assert said["night"].startswith("not sent: held until") and "after the call" in said["night"]
    assert said["no"] == Status.SUPPRESSED
    callee_reminders = {n.recipient.external_id: n for n in reminders("call_reminder_callee")}
    assert callee_reminders["night"].status == Status.CANCELLED
    assert "we will call you at" in callee_reminders["day"].rendered_body or callee_reminders["day"].data["reason"]
    assert len(reminders("call_reminder")) == 3  # the caller is reminded of each


def test_a_missed_call_alerts_the_callers_team_once(catalogue, sam, via_fakes, recipient, settings):
    settings.CALL_MISSED_AFTER_MINUTES = 60
    call = call_schedule(caller=sam, callee=recipient, reason="x", scheduled_at=tomorrow_at(10), duration_minutes=30)
    assert calls_mark_missed(now=tomorrow_at(11, 29)) == 0  # the slot ended 10:30; an hour's grace
    assert calls_mark_missed(now=tomorrow_at(11, 31)) == 1
    assert calls_mark_missed(now=tomorrow_at(12, 0)) == 0
    call.refresh_from_db()
    assert call.state == "missed" and call.missed_alerted_at is not None
    (alert,) = reminders("staff_alert")
    assert alert.data["subject"] == "Missed call: sam to 123"
    call_outcome_record(call=call, outcome="no_answer", actor=sam)  # a late outcome is still welcome
    call.refresh_from_db()
    assert call.state == "done"


def test_click_to_call_rings_the_caller_and_records_twilios_callbacks(
    api, catalogue, sam, via_fakes, recipient, client
):
    call = call_schedule(caller=sam, callee=recipient, reason="x", scheduled_at=tomorrow_at(10))
    answer = api.post(f"/api/v1/calls/{call.pk}/dial/")
    assert answer.status_code == 202, answer.content
    (placed,) = via_fakes.sent(TWILIO_VOICE)
    assert placed.fields["To"] == "+14155550100" and placed.fields["From"] == "+15005550006"
    assert "<Dial" in placed.fields["Twiml"] and "+14155550123</Dial>" in placed.fields["Twiml"]
    assert placed.fields["StatusCallback"].endswith("/webhooks/twilio/call-status")
    sid = placed.response["sid"]
    call.refresh_from_db()
    assert (call.dial_sid, call.dial_status) == (sid, "queued")

    def callback(params, signed=True):
        url = "http://testserver/webhooks/twilio/call-status"
        signature = RequestValidator(via_fakes.twilio_token).compute_signature(url, params) if signed else "forged"
        return client.post("/webhooks/twilio/call-status", params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert callback({"CallSid": sid, "CallStatus": "completed", "CallDuration": "99"}, signed=False).status_code == 403
    assert callback({"CallSid": sid, "CallStatus": "in-progress"}).status_code == 204
    assert callback({"CallSid": sid, "CallStatus": "completed", "CallDuration": "312"}).status_code == 204
    assert callback({"CallSid": sid, "CallStatus": "ringing"}).status_code == 204  # late: changes nothing
    call.refresh_from_db()
    assert (call.dial_status, call.dial_seconds) == ("completed", 312) and call.dial_answered_at is not None


def test_click_to_call_without_a_phone_is_a_field_error(api, catalogue, via_fakes, recipient):
    nobody = get_user_model().objects.create_user("kim", "kim@bank.example", "x" * 20, is_staff=True)
    call = call_schedule(caller=nobody, callee=recipient, reason="x", scheduled_at=tomorrow_at(10))
    answer = api.post(f"/api/v1/calls/{call.pk}/dial/")
    assert answer.status_code == 400 and "staff:kim" in answer.json()["caller"][0]
    assert via_fakes.sent(TWILIO_VOICE) == []


def test_the_api_schedules_reads_and_reschedules(api, catalogue, sam, via_fakes, recipient):
    made = api.post(
        "/api/v1/calls/",
        {
            "caller": "sam",
            "callee_name": "Dana's accountant",
            "callee_phone": "+44 20 7946 0958",
            "reason": "Documents",
            "scheduled_at": tomorrow_at(10).isoformat(),
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    call = made.json()
    assert call["callee_phone"] == "+442079460958" and call["state"] == "scheduled" and call["caller"] == "sam"
    bad = api.post(
        "/api/v1/calls/",
        {"caller": "nobody", "reason": "x", "scheduled_at": "2020-01-01T10:00:00Z", "callee_phone": "555"},
        format="json",
    )
    assert bad.status_code == 400 and "caller" in bad.json()
    no_callee = api.post(
        "/api/v1/calls/", {"caller": "sam", "reason": "x", "scheduled_at": "2020-01-01T10:00:00Z"}, format="json"
    )
    assert no_callee.status_code == 400 and {"callee", "scheduled_at"} <= set(no_callee.json())
    refused = api.post(f"/api/v1/calls/{call['id']}/outcome/", {"outcome": "rescheduled"}, format="json")
    assert refused.status_code == 400 and "new_time" in refused.json()
    moved = api.post(
        f"/api/v1/calls/{call['id']}/outcome/",
        {"outcome": "rescheduled", "new_time": tomorrow_at(15).isoformat(), "notes": "asked for the afternoon"},
        format="json",
    ).json()
    assert moved["outcome"] == "rescheduled" and moved["rescheduled_to"]
    new = Call.objects.get(pk=moved["rescheduled_to"])
    assert new.scheduled_at == tomorrow_at(15) and new.state == "scheduled" and new.reason == "Documents"
    again = api.post(f"/api/v1/calls/{call['id']}/outcome/", {"outcome": "completed"}, format="json")
    assert again.status_code == 409
    listed = api.get("/api/v1/calls/?caller=sam&state=scheduled").json()["results"]
    assert [c["id"] for c in listed] == [new.pk]


def test_reminders_go_through_the_pipeline_to_the_fake(catalogue, sam, via_fakes, recipient, settings):
    from notifications.delivery import queue_drain

    settings.CALL_REMINDER_MINUTES = [15]
    call_schedule(caller=sam, callee=recipient, reason="Review", scheduled_at=timezone.now() + timedelta(minutes=10))
    assert calls_remind() == 1
    (n,) = reminders("call_reminder")
    queue_drain(queue=n.queue, threads=1)
    (mail,) = via_fakes.sent(MAILGUN)
    assert mail.fields["to"] == "sam@bank.example" and mail.fields["subject"].startswith("Call 123 at ")


def test_the_calls_api_names_its_permissions(api_without_perms, catalogue):
    assert api_without_perms.get("/api/v1/calls/").status_code == 403
    assert api_without_perms.post("/api/v1/calls/", {}, format="json").status_code == 403
