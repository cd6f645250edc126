"""The decision engine: checks in a fixed order, each explained; preferences, suppressions, consent and
frequency caps decide; refused notifications are kept (suppressed) with a trace a newcomer can read."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notifications.constants import Status
from notifications.decision import DecisionContext
from notifications.models import Notification
from notifications.services import SubmitRequest, notification_prepare, notifications_submit_batch
from preferences.models import Preference
from preferences.services import preference_set, sms_opt_out, suppression_add
from tests.factories import RecipientFactory, grant_marketing, submit

pytestmark = pytest.mark.django_db

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
ALERT = {"amount": "$120.00", "account": "checking"}
NOON_NY = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 12:00 in New York: inside every window


def steps(n) -> list[tuple[str, str]]:
    return [(s["check"], s["outcome"]) for s in n.decision_trace]


def reason(n, check: str) -> str:
    return next(s["reason"] for s in reversed(n.decision_trace) if s["check"] == check)


def test_a_sample_of_refused_and_deferred_notifications_explain_themselves_in_the_api(catalogue, api):
    """Must-show 6: what a newcomer reads in GET /api/v1/notifications/{id}/ for each kind of 'no'."""
    stopped = RecipientFactory(external_id="stopped", phone="+14155550142")
    sms_opt_out(phone="+14155550142", keyword="STOP", reference="SMabc", at=datetime(2026, 5, 4, 14, 2, tzinfo=UTC))
    bounced = RecipientFactory(external_id="bounced", email="gone@example.com")
    suppression_add(channel="email", address="Gone@Example.com", reason="bounce", detail="550 5.1.1 user unknown")
    never_agreed = RecipientFactory(external_id="never-agreed")
    opted_out = RecipientFactory(external_id="opted-out")
    preference_set(recipient=opted_out, category="reminders", enabled=False)

    samples = {
        "stopped": submit(recipient="stopped", type="payment_reminder", data=REMINDER),
        "bounced": submit(recipient="bounced", type="monthly_report", data={"month": "May"}),
        "never-agreed": submit(
            recipient="never-agreed", type="educational_content", data={"title": "T", "summary": "S"}
        ),
        "opted-out": submit(recipient="opted-out", type="payment_reminder", data=REMINDER),
    }
    expected = {
        "stopped": "suppressed: phone +14155…42 replied STOP at 2026-05-04 14:02 UTC (texted STOP, message SMabc)",
        "bounced": "suppressed: email g…@example.com hard-bounced at",
        "never-agreed": "no consent for marketing email (education): never granted",
        "opted-out": "recipient turned off category reminders by any channel",
    }
    for key, n in samples.items():
        assert n.status == Status.SUPPRESSED, (key, n.decision_trace)
        detail = api.get(f"/api/v1/notifications/{n.pk}/").json()
        assert detail["status"] == "suppressed"
        assert expected[key] in detail["last_error"], (key, detail["last_error"])
        refusal = [s for s in detail["decision_trace"] if s["outcome"] == "refuse"]
        assert refusal and expected[key] in refusal[-1]["reason"]
        print(f"\n{key:>13}: {detail['last_error']}")
    # the seed contract's status shows the same trace in `info`
    info = api.get(f"/api/communication/status/{samples['stopped'].pk}").json()
    assert info["status"] == "REJECTED"
    assert expected["stopped"] in info["info"]["decision_trace"][-1]["reason"]
    assert never_agreed.pk and stopped.pk and bounced.pk  # all kept, none lost


def test_the_checks_run_in_the_documented_order(catalogue):
    recipient = RecipientFactory(external_id="123", timezone="America/New_York")
    grant_marketing(recipient, "sms")
    n = notification_prepare(
        SubmitRequest(recipient="123", type="weekly_checkin", data={}), now=NOON_NY, context=DecisionContext()
    )
    assert [c for c, _ in steps(n)] == [
        "type",
        "channel",
        "suppression",
        "consent",
        "preference",
        "quiet_hours",
        "frequency_cap",
        "template",
    ]


def test_a_suppressed_default_channel_falls_back_for_a_critical_alert(catalogue):
    RecipientFactory(external_id="123", phone="+14155550123", email="dana@example.com")
    sms_opt_out(phone="+14155550123", keyword="STOP", reference="SM1")
    n = submit(type="financial_alert", data=ALERT)
    assert (n.status, n.channel) == (Status.QUEUED, "email")
    assert ("suppression", "refuse") in steps(n) and ("channel", "fallback") in steps(n)


def test_an_explicitly_requested_channel_does_not_fall_back(catalogue):
    RecipientFactory(external_id="123", phone="+14155550123", email="dana@example.com")
    sms_opt_out(phone="+14155550123", keyword="STOP", reference="SM1")
    n = submit(type="financial_alert", data=ALERT, channel="sms")
    assert (n.status, n.channel) == (Status.SUPPRESSED, "sms")


def test_required_types_ignore_preferences_but_not_suppressions(catalogue):
    recipient = RecipientFactory(external_id="123")
    preference_set(recipient=recipient, channel="sms", enabled=False)  # "no SMS at all"
    alert = submit(type="financial_alert", data=ALERT)
    assert (alert.status, alert.channel) == (Status.QUEUED, "sms")
    assert "financial_alert is required" in reason(alert, "preference")
    reminder = submit(type="payment_reminder", data=REMINDER)
    assert reminder.status == Status.SUPPRESSED
    assert "recipient turned off all notifications by sms" in reminder.last_error


def test_an_off_anywhere_wins_over_an_on_elsewhere(catalogue):
    recipient = RecipientFactory(external_id="123")
    preference_set(recipient=recipient, notification_type=catalogue["payment_reminder"], enabled=True)
    preference_set(recipient=recipient, category="reminders", channel="sms", enabled=False)
    assert submit(type="payment_reminder", data=REMINDER).status == Status.SUPPRESSED
    preference_set(recipient=recipient, category="reminders", channel="sms", enabled=True)
    assert submit(type="payment_reminder", data=REMINDER).status == Status.QUEUED


def test_opt_in_types_need_an_explicit_on(catalogue):
    ntype = catalogue["payment_reminder"]
    ntype.preference_policy = "opt_in"
    ntype.save()
    recipient = RecipientFactory(external_id="123")
    refused = submit(type="payment_reminder", data=REMINDER)
    assert refused.status == Status.SUPPRESSED and "is opt-in" in refused.last_error
    preference_set(recipient=recipient, notification_type=ntype, channel="sms", enabled=True)
    assert submit(type="payment_reminder", data=REMINDER).status == Status.QUEUED


def test_a_category_withdrawal_beats_an_older_purpose_wide_grant_and_loses_to_a_newer_one(catalogue):
    recipient = RecipientFactory(external_id="123")
    t0 = timezone.now() - timedelta(days=3)
    grant_marketing(recipient, "email", at=t0)
    from preferences.services import Evidence, consent_record

    consent_record(
        recipient=recipient,
        channel="email",
        purpose="marketing",
        category="education",
        action="withdrawn",
        evidence=Evidence(source="unsubscribe_link"),
        at=t0 + timedelta(days=1),
    )
    lesson = {"title": "T", "summary": "S"}
    assert submit(type="educational_content", data=lesson).status == Status.SUPPRESSED
    assert submit(type="career_insights", data={"insight": "I"}).status == Status.QUEUED
    grant_marketing(recipient, "email", at=t0 + timedelta(days=2))  # opted back in to everything
    assert submit(type="educational_content", data=lesson).status == Status.QUEUED


def test_frequency_cap_skip_keeps_one_weekly_checkin_per_week(catalogue):
    recipient = RecipientFactory(external_id="123", timezone="America/New_York")
    grant_marketing(recipient, "sms")
    first = notification_prepare(
        SubmitRequest(recipient="123", type="weekly_checkin", data={}), now=NOON_NY, context=DecisionContext()
    )
    first.save()
    again = notification_prepare(
        SubmitRequest(recipient="123", type="weekly_checkin", data={}),
        now=NOON_NY + timedelta(days=3),
        context=DecisionContext(),
    )
    assert again.status == Status.SUPPRESSED and again.error_code == "frequency_cap"
    assert "skipped: 1 weekly_checkin per 168 h already used (latest at 2026-06-01 16:00 UTC)" in again.last_error
    a_week_later = notification_prepare(
        SubmitRequest(recipient="123", type="weekly_checkin", data={}),
        now=NOON_NY + timedelta(days=7, minutes=1),
        context=DecisionContext(),
    )
    assert a_week_later.status == Status.QUEUED


def test_frequency_cap_defer_moves_the_send_and_counts_rows_of_the_same_batch(catalogue):
    ntype = catalogue["payment_reminder"]
    ntype.frequency_cap_count, ntype.frequency_cap_window_hours, ntype.frequency_cap_action = 2, 24, "defer"
    ntype.save()
    RecipientFactory(external_id="123")
    results = notifications_submit_batch(
        [SubmitRequest(recipient="123", type="payment_reminder", data=REMINDER) for _ in range(3)]
    )
    statuses = [r.notification.status for r in results]
    assert statuses == [Status.QUEUED, Status.QUEUED, Status.SCHEDULED]
    third = results[2].notification
    assert third.send_at - results[0].notification.send_at >= timedelta(hours=24)
    assert "deferred to" in reason(third, "frequency_cap")


def test_cancelled_and_suppressed_rows_do_not_use_up_the_cap(catalogue):
    recipient = RecipientFactory(external_id="123", timezone="UTC")
    grant_marketing(recipient, "sms")
    first = submit(type="weekly_checkin", data={})
    Notification.objects.filter(pk=first.pk).update(status=Status.CANCELLED)
    assert submit(type="weekly_checkin", data={}).status != Status.SUPPRESSED


def test_the_v1_api_answers_202_with_status_suppressed_and_the_reason(catalogue, api):
    RecipientFactory(external_id="123")
    response = api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "educational_content", "data": {"title": "T", "summary": "S"}},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["status"] == "suppressed"
    assert response.json()["reason"] == "no consent for marketing email (education): never granted"


def test_the_contract_send_says_it_was_not_sent_and_why(catalogue, api):
    RecipientFactory(external_id="123")
    body = api.post(
        "/api/communication/send",
        {"user_id": "123", "trigger_type": "educational_content", "data": {"title": "T", "summary": "S"}},
        format="json",
    ).json()
    assert body["success"] is False and body["task_id"] and body["cost"] == 0.0
    assert body["message"] == "Communication not sent: no consent for marketing email (education): never granted"


def test_preferences_service_api_upserts_and_validates(catalogue, api):
    RecipientFactory(external_id="123")
    created = api.post(
        "/api/v1/preferences/", {"recipient": "123", "type": "payment_reminder", "channel": "sms", "enabled": False}
    )
    assert created.status_code == 201, created.content
    again = api.post(
        "/api/v1/preferences/", {"recipient": "123", "type": "payment_reminder", "channel": "sms", "enabled": True}
    )
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"] and again.json()["enabled"] is True
    bad = api.post("/api/v1/preferences/", {"recipient": "123", "type": "nope", "channel": "fax", "enabled": "x"})
    assert bad.status_code == 400 and {"channel", "enabled"} <= set(bad.json())
    unknown_type = api.post("/api/v1/preferences/", {"recipient": "123", "type": "nope", "enabled": False})
    assert unknown_type.status_code == 400 and "type" in unknown_type.json()
    both = api.post(
        "/api/v1/preferences/", {"recipient": "123", "type": "payment_reminder", "category": "x", "enabled": 0}
    )
    assert both.status_code == 400 and "category" in both.json()
    listed = api.get("/api/v1/preferences/?recipient=123").json()["results"]
    assert [p["type"] for p in listed] == ["payment_reminder"]
    assert Preference.objects.count() == 1


def test_deferred_notifications_explain_themselves_in_the_api(catalogue, api):
    """Must-show 6, the deferred half: quiet hours and a deferring cap, as the API detail shows them."""
    kolkata = RecipientFactory(external_id="asha", timezone="Asia/Kolkata")
    grant_marketing(kolkata, "sms")
    night = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 21:30 in Kolkata
    quiet = notification_prepare(
        SubmitRequest(recipient="asha", type="milestone_reminder", data={"milestone_name": "Emergency fund"}),
        now=night,
        context=DecisionContext(),
    )
    quiet.save()
    capped_type = catalogue["payment_reminder"]
    capped_type.frequency_cap_count, capped_type.frequency_cap_window_hours = 1, 24
    capped_type.save()
    RecipientFactory(external_id="123")
    submit(type="payment_reminder", data=REMINDER)
    capped = submit(type="payment_reminder", data=REMINDER)

    quiet_detail = api.get(f"/api/v1/notifications/{quiet.pk}/").json()
    assert quiet_detail["status"] == "scheduled"
    step = next(s for s in quiet_detail["decision_trace"] if s["check"] == "quiet_hours")
    assert step["reason"] == (
        "2026-06-10 21:30 Asia/Kolkata is outside the send window 08:00-21:00; "
        "deferred to 2026-06-11 08:00 Asia/Kolkata"
    )
    capped_detail = api.get(f"/api/v1/notifications/{capped.pk}/").json()
    assert capped_detail["status"] == "scheduled"
    cap_step = next(s for s in capped_detail["decision_trace"] if s["check"] == "frequency_cap")
    assert cap_step["outcome"] == "defer" and cap_step["reason"].startswith("1 payment_reminder per 24 h already used")
    print(f"\n  quiet hours: {step['reason']}\n  frequency cap: {cap_step['reason']}")
