"""The incremental rollup pass against a recount from the rows: real sends through anymail's Mailgun backend and
the Twilio client to the fakes, then provider feedback (deliveries, opens, a bounce, a bill), cancellations and
late-committing rows. After each step the pass's rollups must equal a recount of the same rows in every column,
and the cost must equal the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from twilio.request_validator import RequestValidator

from analytics.models import DailyRollup, RecipientDailyCost, RollupMark, RollupWatermark
from analytics.rollups import rollups_build, rollups_fold, rollups_reconcile, rollups_recount
from analytics.rollups.contributions import histogram_percentile, ttd_bucket
from analytics.rollups.fold import ROLLUP_FIELDS, key_of
from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from notifications.services import SubmitRequest, notification_cancel, notifications_submit_batch
from tests.factories import RecipientFactory
from tests.fakes.mailgun_webhooks import mailgun_event, post_tracking, tracking_webhooks_on

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_with_anymail")]
REMINDER = {"bill_name": "Rent", "amount": "$1", "due_date": "today"}
REPORT = {"month": "May", "summary": "Fine."}


def rolled() -> dict:
    return {key_of(r): tuple(getattr(r, f) for f in ROLLUP_FIELDS) for r in DailyRollup.objects.all()}


def costs() -> dict:
    return {
        (r.day, r.recipient_id, r.channel, r.currency): (r.messages, r.units, r.cost)
        for r in RecipientDailyCost.objects.all()
    }


def assert_pass_equals_recount() -> None:
    rollups_fold()
    incremental, incremental_costs = rolled(), costs()
    assert rollups_recount() == 0
    assert rolled() == incremental and costs() == incremental_costs
    today = timezone.now().date()
    assert rollups_reconcile(start=today - timedelta(days=3), end=today) == []
    ledger = CostEntry.objects.aggregate(t=Sum("amount"))["t"] or Decimal(0)
    assert (DailyRollup.objects.aggregate(t=Sum("cost"))["t"] or Decimal(0)) == ledger


def twilio_status(client, fake, n: Notification, status: str, price: str = "") -> None:
    params = {"MessageSid": n.provider_message_id, "MessageStatus": status, "To": n.to_address}
    params |= {"AccountSid": fake.twilio_sid} | ({"Price": price, "PriceUnit": "USD"} if price else {})
    signature = RequestValidator(fake.twilio_token).compute_signature(
        "http://testserver/webhooks/twilio/status", params
    )
    assert client.post("/webhooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204


def test_every_step_of_real_traffic_folds_to_what_a_recount_says(catalogue, via_fakes, client, settings):
    fake = tracking_webhooks_on(settings, via_fakes)
    for i in range(6):
        RecipientFactory(external_id=f"r{i}", phone=f"+1415555{i:04d}", email=f"r{i}@example.com")
    later = timezone.now() + timedelta(days=2)
    requests = [SubmitRequest(recipient=f"r{i % 6}", type="payment_reminder", data=REMINDER) for i in range(30)]
    requests += [SubmitRequest(recipient=f"r{i % 6}", type="monthly_report", data=REPORT) for i in range(20)]
    requests += [SubmitRequest(recipient="r1", type="monthly_report", data=REPORT, send_at=later) for _ in range(3)]
    results = notifications_submit_batch(requests)
    assert all(r.ok for r in results)
    assert rollups_fold().rebuilt_days == 3  # the first pass counts the open days from the rows
    assert DailyRollup.objects.aggregate(t=Sum("submitted"))["t"] == 53
    assert_pass_equals_recount()

    queue_drain(queue="sms_daily", time_budget=60, batch_size=50)
    queue_drain(queue="email_reports", time_budget=60, batch_size=50)
    assert_pass_equals_recount()
    assert DailyRollup.objects.aggregate(t=Sum("still_sent"))["t"] == 50

    sms = list(Notification.objects.filter(channel="sms").order_by("created_at"))
    for n in sms[:10]:
        twilio_status(client, fake, n, "delivered", price="-0.00900")
    twilio_status(client, fake, sms[10], "undelivered")
    emails = list(Notification.objects.filter(channel="email", status=Status.SENT).order_by("created_at"))
    for n in emails[:5]:
        assert post_tracking(client, mailgun_event(n, "delivered")).status_code == 200
        assert post_tracking(client, mailgun_event(n, "opened")).status_code == 200
        assert post_tracking(client, mailgun_event(n, "opened")).status_code == 200  # a second open: one reader
    failure = {"delivery-status": {"code": 550, "message": "no such user"}, "reason": "bounce"}
    assert post_tracking(client, mailgun_event(emails[5], "failed", severity="permanent", **failure)).status_code == 200
    for n in Notification.objects.filter(status=Status.SCHEDULED)[:2]:
        notification_cancel(notification_id=n.pk)
    assert_pass_equals_recount()
    totals = DailyRollup.objects.aggregate(
        d=Sum("delivered"), f=Sum("failed"), o=Sum("opened"), b=Sum("bounced"), c=Sum("cancelled"), s=Sum("still_sent")
    )
    assert totals == {"d": 15, "f": 2, "o": 5, "b": 1, "c": 2, "s": 50 - 15 - 2}
    sms_row = DailyRollup.objects.get(channel="sms", notification_type__key="payment_reminder")
    assert sms_row.ttd_p50_ms is not None and sum(sms_row.ttd_histogram.values()) == 10


def test_a_pass_with_nothing_changed_writes_nothing_and_overlap_catches_a_late_commit(catalogue, recipient):
    results = notifications_submit_batch(
        [SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT)] * 3
    )
    rollups_fold()
    before = rolled()
    again = rollups_fold()
    assert (
        again.changed == 3 and again.folded == 0 and rolled() == before
    )  # within the overlap: looked at, not counted twice
    # a row stamped before the watermark whose transaction committed after the pass: the overlap still sees it
    stamped = RollupWatermark.objects.get().through - timedelta(seconds=30)
    notification_cancel(notification_id=results[0].notification.pk)
    Notification.objects.filter(pk=results[0].notification.pk).update(updated_at=stamped)
    assert rollups_fold().folded == 1
    assert DailyRollup.objects.get().cancelled == 1


def test_a_closed_days_final_counts_stay_and_its_unfinished_rows_are_still_followed(catalogue, recipient, settings):
    settings.COMMHUB = {**settings.COMMHUB, "ROLLUP_DAYS": 2}
    [scheduled, sent] = [
        r.notification
        for r in notifications_submit_batch(
            [
                SubmitRequest(
                    recipient=recipient.external_id,
                    type="monthly_report",
                    data=REPORT,
                    send_at=timezone.now() + timedelta(days=9),
                ),
                SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT),
            ]
        )
    ]
    old = timezone.now() - timedelta(days=5)
    Notification.objects.filter(pk__in=[scheduled.pk, sent.pk]).update(created_at=old)
    Notification.objects.filter(pk=sent.pk).update(status=Status.DELIVERED)
    rollups_build(start=old.date(), end=old.date())  # the closed day recounted: only the unfinished row keeps a mark
    assert list(RollupMark.objects.values_list("notification_id", flat=True)) == [scheduled.pk]
    rollups_fold()
    notification_cancel(notification_id=scheduled.pk)  # five days later, it is cancelled: the closed day hears of it
    Notification.objects.filter(pk=sent.pk).update(status=Status.FAILED, updated_at=timezone.now())  # final: stays
    rollups_fold()
    row = DailyRollup.objects.get(day=old.date())
    assert (row.submitted, row.cancelled, row.delivered, row.failed) == (2, 1, 1, 0)
    assert not RollupMark.objects.filter(day=old.date()).exists()


def test_when_a_day_closes_only_its_unfinished_rows_keep_their_marks(catalogue, recipient):
    in_a_week = timezone.now() + timedelta(days=7)
    requests = [SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT, send_at=in_a_week)]
    requests += [SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT)] * 2
    [waiting, *done] = [r.notification for r in notifications_submit_batch(requests)]
    for n in done:
        notification_cancel(notification_id=n.pk)
    rollups_fold()
    assert RollupMark.objects.count() == 3
    rollups_fold(now=timezone.now() + timedelta(days=4))  # four days on (COMMHUB_ROLLUP_DAYS is 3): today has closed
    assert list(RollupMark.objects.values_list("notification_id", flat=True)) == [waiting.pk]


def test_time_to_deliver_buckets_read_as_their_upper_edge():
    histogram = {str(ttd_bucket(ms)): 1 for ms in (800, 900, 1000, 4000)}
    p50, p95 = histogram_percentile(histogram, 0.5), histogram_percentile(histogram, 0.95)
    assert 900 <= p50 <= 900 * 1.1 and 4000 <= p95 <= 4000 * 1.1
    assert histogram_percentile({}, 0.5) is None


def test_metrics_come_from_the_rollups_and_the_live_unfinished_rows(catalogue, recipient, client, settings):
    settings.COMMHUB = {**settings.COMMHUB, "METRICS_CACHE_SECONDS": 0}
    settings.METRICS_TOKEN = "metrics-token"
    operator_headers = {"HTTP_AUTHORIZATION": "Bearer metrics-token"}
    results = notifications_submit_batch(
        [SubmitRequest(recipient=recipient.external_id, type="monthly_report", data=REPORT)] * 4
    )
    notification_cancel(notification_id=results[0].notification.pk)
    body = client.get("/metrics", **operator_headers).content.decode()
    assert 'commhub_notifications{channel="email",status="queued",type="monthly_report"} 3.0' in body
    assert 'status="cancelled"' not in body  # final counts arrive with the next pass
    rollups_fold()
    body = client.get("/metrics", **operator_headers).content.decode()
    assert 'commhub_notifications{channel="email",status="cancelled",type="monthly_report"} 1.0' in body


def test_every_status_is_counted_once_either_live_or_from_the_rollups():
    from analytics.maintenance import UNFINISHED
    from analytics.rollups.contributions import STATUS_COUNT

    assert set(UNFINISHED).isdisjoint(STATUS_COUNT) and set(UNFINISHED) | set(STATUS_COUNT) == set(Status.values)
