"""Retention: `manage.py purge` counts by type in a dry run, then blanks the words and personal data of finished
notifications past retention while rollups (rebuilt from the same rows), the cost ledger, the consent ledger and
suppressions stay as they were and a person's export stays consistent; rows still on their way are untouched;
the hourly retention job applies each type's own retention."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.utils import timezone

from analytics.maintenance import retention_purge
from analytics.models import DailyRollup
from analytics.rollups import rollups_build
from costs.models import CostEntry
from inbox.models import InboxItem
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, NotificationType, ProviderEvent
from preferences.models import ConsentRecord, Suppression
from preferences.privacy import recipient_export_data
from preferences.services import suppression_add
from tests.factories import RecipientFactory, grant_marketing, submit

pytestmark = pytest.mark.django_db
BILL = {"bill_name": "Rent", "amount": "$900", "due_date": "1 May"}


def _age(n: Notification, days: int) -> None:
    Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - timedelta(days=days))


@pytest.fixture
def history(catalogue):
    """dana's notifications: sent, in-app, suppressed and still-waiting ones 100 days old; a sent one of last week."""
    dana = RecipientFactory(external_id="dana", email="dana@example.com", phone="+14155550123")
    grant_marketing(dana, "email")
    suppression_add(channel="email", address="gone@example.com", reason="bounce")
    sent = submit(recipient="dana", type="financial_alert")
    in_app = submit(recipient="dana", type="payment_reminder", channel="in_app", data=BILL)
    for n in (sent, in_app):
        queue_drain(queue=n.queue, threads=1)
    ProviderEvent.objects.create(
        notification=sent,
        provider="twilio",
        event_id="e1",
        event_type="delivered",
        address="+14155550123",
        payload={"To": "+14155550123"},
    )
    refused = submit(recipient="dana", type="weekly_checkin", channel="sms", data={})  # no SMS marketing consent
    waiting = submit(recipient="dana", type="financial_alert", send_at=timezone.now() + timedelta(days=1))
    recent = submit(recipient="dana", type="financial_alert")
    queue_drain(queue=recent.queue, threads=1)
    for n in (sent, in_app, refused, waiting):
        _age(n, 100)
    assert refused.status == Status.SUPPRESSED and waiting.status == Status.SCHEDULED
    return {"dana": dana, "sent": sent, "in_app": in_app, "refused": refused, "waiting": waiting, "recent": recent}


def _ledgers() -> tuple:
    return (
        sorted((str(c.notification_id), c.amount) for c in CostEntry.objects.all()),
        sorted(model_to_dict(c)["id"] for c in ConsentRecord.objects.all()),
        list(Suppression.objects.values_list("address", "lifted_at")),
    )


def _rollups(day) -> list:
    rollups_build(start=day, end=timezone.now().date())
    return sorted(
        (r.day, r.notification_type_id, r.channel, r.submitted, r.sent, r.delivered, r.suppressed, r.units, r.cost)
        for r in DailyRollup.objects.all()
    )


def test_a_dry_run_counts_and_a_purge_keeps_counts_ledgers_and_exports_consistent(history):
    day = (timezone.now() - timedelta(days=100)).date()
    rollups_before, ledgers_before = _rollups(day), _ledgers()
    assert len(rollups_before) >= 3 and ledgers_before[0] and ledgers_before[1] and ledgers_before[2]
    export_before = recipient_export_data(history["dana"])["notifications"]

    out = StringIO()
    call_command("purge", "--older-than", "90d", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "purge (dry run): 3 notification(s) [financial_alert: 1, payment_reminder: 1, weekly_checkin: 1]"
    )
    assert not Notification.objects.filter(purged_at__isnull=False).exists()  # a dry run changes nothing

    out = StringIO()
    call_command("purge", "--older-than", "90d", "--quiet", stdout=out)
    assert out.getvalue().startswith("purge: 3 notification(s) purged")
    assert "inbox_items: 1" in out.getvalue()
    sent = Notification.objects.get(pk=history["sent"].pk)
    assert (sent.to_address, sent.data, sent.rendered_body, sent.status) == ("", {}, "", Status.SENT)
    assert sent.purged_at is not None and {s["reason"] for s in sent.decision_trace} == {"(purged)"}
    assert ProviderEvent.objects.get(event_id="e1").payload == {} and not InboxItem.objects.exists()
    for untouched in ("waiting", "recent"):
        row = Notification.objects.get(pk=history[untouched].pk)
        assert row.purged_at is None and row.data and row.to_address == "+14155550123"

    assert _rollups(day) == rollups_before and _ledgers() == ledgers_before
    export_after = recipient_export_data(history["dana"])["notifications"]
    assert [(n["id"], n["status"], n["cost"]) for n in export_after] == [
        (n["id"], n["status"], n["cost"]) for n in export_before
    ]
    purged = next(n for n in export_after if n["id"] == str(history["sent"].pk))
    assert purged["purged_at"] and purged["rendered_body"] == "" and purged["to_address"] == ""
    again = StringIO()
    call_command("purge", "--older-than", "90d", stdout=again)
    assert again.getvalue().startswith("purge: 0 notification(s) purged")


def test_the_retention_job_applies_each_types_own_retention(history, settings):
    settings.COMMHUB = {**settings.COMMHUB, "RETENTION_DAYS": 0}  # kept, unless the type says otherwise
    assert retention_purge(now=timezone.now()).notifications_purged == 0
    NotificationType.objects.filter(key="weekly_checkin").update(retention_days=30)
    assert retention_purge(now=timezone.now()).notifications_purged == 1
    assert Notification.objects.get(pk=history["refused"].pk).purged_at is not None
    assert Notification.objects.get(pk=history["sent"].pk).purged_at is None
    settings.COMMHUB = {**settings.COMMHUB, "RETENTION_DAYS": 365}
    assert retention_purge(now=timezone.now()).notifications_purged == 0  # 100 days old: within a year


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--older-than", "90x"], "--older-than takes an age such as 30m, 2h or 7d, not '90x'"),
        (["--older-than", "0d"], "--older-than must be more than 0"),
        (["--type", "nope"], "unknown notification type nope"),
    ],
)
def test_bad_arguments_are_one_readable_line(catalogue, args, said):
    with pytest.raises(CommandError, match=said.replace("(", r"\(")):
        call_command("purge", *args)
