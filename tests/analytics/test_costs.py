"""The cost ledger against a price table with destination prefixes, a provider-specific price and a price
change in force from yesterday: 1,000 mixed sends (short and long GSM SMS, UCS-2 SMS, emails) through the real
Twilio client and anymail's Mailgun backend to the fakes. The ledger must equal the table exactly (Decimal),
the rollups must equal the ledger, and Twilio's price callback must replace an estimate once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from twilio.request_validator import RequestValidator

from analytics.models import DailyRollup, RecipientDailyCost
from analytics.rollups import rollups_build, rollups_reconcile
from costs.models import CostEntry, PricingRule
from costs.services import cost_estimate, cost_line_for
from notifications.delivery import queue_drain
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN, TWILIO

pytestmark = pytest.mark.django_db

D = Decimal
# destination -> (phone, the price per segment the table must pick for Twilio)
DESTINATIONS = {
    "us": ("+14155550101", D("0.0079")),  # +1 through twilio: the provider's own rule
    "bahamas": ("+12423570101", D("0.0300")),  # +1242 beats +1: the longest prefix wins
    "uk": ("+447700900101", D("0.0400")),  # +44 from yesterday (it was 0.0350 until then)
    "france": ("+33612345601", D("0.0075")),  # no prefix rule: the channel-wide default
}
EMAIL_PRICE = D("0.00009")  # mailgun's own rule beats the channel-wide 0.0001
# bill names giving SMS bodies of a known length: "Reminder: {bill} of $1 is due today." is 31 characters + bill
VARIANTS = [
    ("gsm-1", "Rent", 1),  # 35 characters
    ("gsm-2", "R" * 170, 2),  # 201 characters: 2 x 153
    ("gsm-3", "R" * 400, 3),  # 431 characters: 3 x 153
    ("ucs2-1", "Café ünïcødé 🎉", 1),  # non-GSM characters: UCS-2, 70 units a segment
    ("ucs2-2", "🎉" * 30, 2),  # 91 UTF-16 units: 2 x 67
]


@pytest.fixture
def price_table(catalogue):
    now = timezone.now()
    sms = {"channel": "sms", "unit": PricingRule.Unit.SEGMENT, "currency": "USD"}
    PricingRule.objects.create(**sms, country_prefix="+1", provider="twilio", price=D("0.0079"))
    PricingRule.objects.create(**sms, country_prefix="+1242", price=D("0.0300"))
    PricingRule.objects.create(**sms, country_prefix="+44", price=D("0.0350"), effective_to=now - timedelta(days=1))
    PricingRule.objects.create(**sms, country_prefix="+44", price=D("0.0400"), effective_from=now - timedelta(days=1))
    PricingRule.objects.create(channel="email", provider="mailgun", unit="message", price=EMAIL_PRICE)
    return PricingRule.objects.all()


def test_a_thousand_mixed_sends_cost_exactly_what_the_table_says(price_table, via_fakes, client, settings):
    for name, (phone, _) in DESTINATIONS.items():
        RecipientFactory(external_id=name, phone=phone, email=f"{name}@example.com")
    requests, expected = [], D(0)
    for i in range(800):  # SMS: every destination x every body variant, round robin
        name = list(DESTINATIONS)[i % 4]
        _, bill, segments = VARIANTS[(i // 4) % len(VARIANTS)]
        requests.append(
            SubmitRequest(
                recipient=name,
                type="payment_reminder",
                data={"bill_name": bill, "amount": "$1", "due_date": "today"},
            )
        )
        expected += DESTINATIONS[name][1] * segments
    for i in range(200):
        requests.append(
            SubmitRequest(
                recipient=list(DESTINATIONS)[i % 4], type="monthly_report", data={"month": "May", "summary": "Fine."}
            )
        )
        expected += EMAIL_PRICE
    results = notifications_submit_batch(requests)
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:3]

    queue_drain(queue="sms_daily", time_budget=300, batch_size=200)
    queue_drain(queue="email_reports", time_budget=300, batch_size=200)

    assert len(via_fakes.sent(TWILIO)) == 800 and len(via_fakes.sent(MAILGUN)) == 200
    # the carrier (the fake counts on its own) agrees with the segment counts the bodies were built for
    fake_segments = sorted(int(r.response["num_segments"]) for r in via_fakes.sent(TWILIO))
    assert fake_segments == sorted(VARIANTS[(i // 4) % len(VARIANTS)][2] for i in range(800))

    ledger = CostEntry.objects.aggregate(total=Sum("amount"))["total"]
    print(f"\n1,000 mixed sends: ledger {ledger} USD, price table {expected} USD")
    assert CostEntry.objects.count() == 1000
    assert isinstance(ledger, Decimal) and ledger == expected
    assert all(e.amount == e.unit_price * e.units for e in CostEntry.objects.all())
    uk = CostEntry.objects.filter(notification__recipient__external_id="uk", channel="sms")
    assert set(uk.values_list("unit_price", flat=True)) == {D("0.0400")}  # the price in force now, not the old one

    rollups_build(start=timezone.now().date(), end=timezone.now().date())
    assert DailyRollup.objects.aggregate(t=Sum("cost"))["t"] == ledger
    assert RecipientDailyCost.objects.aggregate(t=Sum("cost"))["t"] == ledger
    assert DailyRollup.objects.aggregate(t=Sum("sent"))["t"] == 1000
    assert DailyRollup.objects.aggregate(t=Sum("units"))["t"] == CostEntry.objects.aggregate(t=Sum("units"))["t"]
    assert rollups_reconcile(start=timezone.now().date(), end=timezone.now().date()) == []

    # Twilio bills one UK message at its real price: it replaces the estimate once, however often it is reported
    settings.TWILIO_AUTH_TOKEN = via_fakes.twilio_token
    n = Notification.objects.filter(recipient__external_id="uk", channel="sms", segments=1).first()
    estimate = n.cost_entry.amount
    for status in ("sent", "delivered", "delivered"):
        params = {
            "MessageSid": n.provider_message_id,
            "MessageStatus": status,
            "To": n.to_address,
            "AccountSid": via_fakes.twilio_sid,
            "Price": "-0.04120",
            "PriceUnit": "USD",
        }
        signature = RequestValidator(via_fakes.twilio_token).compute_signature(
            "http://testserver/webhooks/twilio/status", params
        )
        assert client.post("/webhooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
        params["Price"] = "-0.05000"  # a later, different report changes nothing: the bill is set once
    entry = CostEntry.objects.get(notification=n)
    assert (entry.amount, entry.estimated_amount, entry.is_estimate) == (D("0.04120"), estimate, False)
    assert entry.updated_at is not None
    new_ledger = CostEntry.objects.aggregate(total=Sum("amount"))["total"]
    assert new_ledger == expected - estimate + D("0.04120")
    rollups_build(start=timezone.now().date(), end=timezone.now().date())
    assert DailyRollup.objects.aggregate(t=Sum("cost"))["t"] == new_ledger
    assert rollups_reconcile(start=timezone.now().date(), end=timezone.now().date()) == []


def test_a_rollup_that_drifted_from_the_ledger_is_named(catalogue, recipient, via_fakes):
    from tests.factories import submit

    submit()
    queue_drain(queue="sms_critical")
    today = timezone.now().date()
    rollups_build(start=today, end=today)
    DailyRollup.objects.update(cost=D("1"))  # a hand edit, a bug: reconcile says where
    [mismatch] = rollups_reconcile(start=today, end=today)
    assert mismatch.rollup == D("1") and mismatch.ledger == D("0.0075")


def test_overlapping_prices_for_the_same_destination_are_refused(catalogue):
    from django.core.exceptions import ValidationError

    PricingRule.objects.create(channel="sms", country_prefix="+44", unit="segment", price=D("0.04"))
    overlapping = PricingRule(channel="sms", country_prefix="+44", unit="segment", price=D("0.05"))
    with pytest.raises(ValidationError, match="same period"):
        overlapping.full_clean()
    bad_prefix = PricingRule(channel="sms", country_prefix="44", unit="segment", price=D("0.05"))
    with pytest.raises(ValidationError, match=r"E\.164"):
        bad_prefix.full_clean()


def test_the_rollups_command_rebuilds_with_progress_and_checks(catalogue, recipient, via_fakes):
    import io

    from django.core.management import CommandError, call_command

    from tests.factories import submit

    submit()
    queue_drain(queue="sms_critical")
    today = timezone.now().date()
    out = io.StringIO()
    call_command("rollups", "--from", str(today - timedelta(days=2)), "--to", str(today), stdout=out)
    assert "[3/3]" in out.getvalue() and "rollups agree with the ledger" in out.getvalue()
    DailyRollup.objects.update(cost=D("9"))
    with pytest.raises(CommandError, match="disagree with the ledger"):
        call_command("rollups", "--check-only", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="takes a date"):
        call_command("rollups", "--from", "last week")


def test_a_submits_estimate_is_what_the_ledger_line_would_charge(price_table):
    """cost_estimate prices every submitted item without building the ledger line: the two must agree for every
    destination, provider, unit, segment count and moment of the table, and agree on "no price" too."""
    now = timezone.now()
    cases = [
        (channel, provider, segments, to, at)
        for channel in ("sms", "email", "push")
        for provider in ("", "twilio", "mailgun")
        for segments in (None, 0, 1, 3)
        for to in ("", *(phone for phone, _ in DESTINATIONS.values()), "user@example.com")
        for at in (None, now - timedelta(days=2), now)
    ]
    priced = 0
    for channel, provider, segments, to, at in cases:
        line = cost_line_for(channel=channel, provider=provider, segments=segments, to=to, at=at)
        estimate = cost_estimate(channel=channel, provider=provider, segments=segments, to=to, at=at)
        assert estimate == (None if line is None else (line.amount, line.currency)), (channel, provider, segments, to)
        priced += estimate is not None
    assert priced > len(cases) // 3  # the table prices most of them: not a comparison of two Nones
