"""Budgets in the decision engine: a blocking budget stops sends exactly at its cap (also under concurrent
submits), naming itself in each refused notification's trace; an alert budget tells staff once per period,
through commhub itself; reconciliation gives back what was never spent."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from analytics.budgets import budgets_reconcile
from costs.models import Budget, BudgetSpend, CostEntry
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from notifications.services import SubmitRequest, notification_cancel, notification_submit
from tests.factories import RecipientFactory, submit
from tests.fakes.providers import MAILGUN

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
SMS_PRICE = Decimal("0.0075")


def reminder(recipient="123"):
    return submit(recipient=recipient, type="payment_reminder", data=REMINDER)


@pytest.mark.django_db
def test_a_blocking_daily_budget_stops_sends_exactly_at_the_cap(catalogue, recipient, via_fakes):
    Budget.objects.create(name="SMS daily", channel="sms", limit=Decimal("0.045"), action=Budget.Action.BLOCK)
    rows = [reminder() for _ in range(10)]
    accepted = [n for n in rows if n.status == Status.QUEUED]
    refused = [n for n in rows if n.status == Status.SUPPRESSED]
    assert len(accepted) == 6 and len(refused) == 4  # 6 x 0.0075 = 0.045: the cap, not a cent past it
    for n in refused:
        step = n.decision_trace[-1]
        assert step["check"] == "budget" and step["outcome"] == "refuse"
        assert "daily budget 'SMS daily' (0.045 USD) would be exceeded: 0.045 USD spent" in step["reason"]
        assert n.error_code == "budget"
    spend = BudgetSpend.objects.get()
    assert (spend.spent, spend.refused) == (Decimal("0.045"), 4)

    queue_drain(queue="sms_daily")
    assert CostEntry.objects.aggregate(t=Sum("amount"))["t"] == Decimal("0.045")
    # email is outside this SMS budget
    assert submit(type="monthly_report", data={"month": "May", "summary": "ok"}).status == Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_cannot_overshoot_a_blocking_budget(catalogue, via_fakes):
    RecipientFactory(external_id="123", phone="+14155550123")
    Budget.objects.create(name="SMS daily", channel="sms", limit=Decimal("0.045"))
    statuses: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def one() -> None:
        try:
            barrier.wait()
            n = notification_submit(SubmitRequest(recipient="123", type="payment_reminder", data=REMINDER))
            with lock:
                statuses.append(n.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses).count(Status.QUEUED) == 6 and statuses.count(Status.SUPPRESSED) == 6
    assert BudgetSpend.objects.get().spent == Decimal("0.045")


@pytest.mark.django_db
def test_an_alert_budget_tells_staff_once_through_commhub(
    catalogue, recipient, via_fakes, django_capture_on_commit_callbacks
):
    Budget.objects.create(name="SMS watch", channel="sms", limit=Decimal("0.02"), action=Budget.Action.ALERT)
    with django_capture_on_commit_callbacks(execute=True):
        rows = [reminder() for _ in range(6)]
    assert all(n.status == Status.QUEUED for n in rows)  # an alert budget never refuses
    [alert] = Notification.objects.filter(notification_type__key="staff_alert")
    assert alert.recipient.external_id == "staff" and alert.channel == "email"
    assert BudgetSpend.objects.get().alerted_at is not None
    queue_drain(queue="email_critical")
    [mail] = via_fakes.sent(MAILGUN)
    assert mail.fields["to"] == ["ops@commhub.localhost"] or mail.fields["to"] == "ops@commhub.localhost"
    assert "Budget crossed: SMS watch" in str(mail.fields["subject"])
    assert "daily budget 'SMS watch' (0.02 USD) has committed 0.0225 USD" in str(mail.fields["text"])
    with django_capture_on_commit_callbacks(execute=True):
        reminder()
    assert Notification.objects.filter(notification_type__key="staff_alert").count() == 1  # once per period


@pytest.mark.django_db
def test_each_recipient_has_a_budget_of_their_own(catalogue, via_fakes):
    for who in ("a", "b"):
        RecipientFactory(external_id=who)
    Budget.objects.create(name="per person", scope=Budget.Scope.EACH_RECIPIENT, limit=Decimal("0.015"))
    statuses = {who: [reminder(who).status for _ in range(3)] for who in ("a", "b")}
    assert statuses == {who: [Status.QUEUED, Status.QUEUED, Status.SUPPRESSED] for who in ("a", "b")}


@pytest.mark.django_db
def test_reconciliation_gives_back_what_was_never_spent(catalogue, recipient, via_fakes):
    Budget.objects.create(name="SMS daily", channel="sms", limit=Decimal("0.015"))
    first, second = reminder(), reminder()
    assert reminder().status == Status.SUPPRESSED
    notification_cancel(notification_id=second.pk)
    assert budgets_reconcile(now=timezone.now()) == 1
    assert BudgetSpend.objects.get().spent == SMS_PRICE  # only the first one still counts
    assert reminder().status == Status.QUEUED
    assert first.status == Status.QUEUED
