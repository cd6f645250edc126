"""Writes for prices, and the cost of a message (what the submit path estimates and the send path records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from commhub import channels

from .models import CostEntry, PricingRule
from .selectors import price_for


def pricing_install_defaults() -> int:
    """Create each channel's default price (its spec's `default_price`, USD per unit) when the channel has no rule
    at all; never touch edited ones."""
    created = 0
    for spec in channels.all_channels():
        if spec.default_price is None:
            continue
        if not PricingRule._base_manager.filter(organisation__isnull=True, channel=spec.name).exists():
            PricingRule.objects.create(
                channel=spec.name, provider="", unit=spec.cost_unit, price=spec.default_price, currency="USD"
            )
            created += 1
    return created


def cost_estimate(
    *,
    channel: str,
    provider: str = "",
    segments: int | None,
    to: str = "",
    at: datetime | None = None,
    organisation_id: int | None = None,
) -> tuple[Decimal, str] | None:
    """Price of one message on `channel` (SMS: per segment), or None when no price is configured (what
    `cost_line_for` charges, without building the line: every submitted item is estimated)."""
    rule = price_for(channel=channel, provider=provider, to=to, at=at, organisation_id=organisation_id)
    return None if rule is None else (rule.price * _units(rule, segments), rule.currency)


def _units(rule: PricingRule, segments: int | None) -> int:
    return max(1, segments or 1) if rule.unit == PricingRule.Unit.SEGMENT else 1


@dataclass
class CostLine:
    """What one sent notification costs, before it is written to the ledger (CostEntry)."""

    channel: str
    provider: str
    units: int
    unit_price: Decimal
    amount: Decimal
    currency: str
    is_estimate: bool = True
    estimated_amount: Decimal | None = None
    pricing_rule_id: int | None = None

    def entry_for(self, notification: Any) -> CostEntry:
        return CostEntry(notification=notification, **asdict(self))


def cost_line_for(
    *,
    channel: str,
    provider: str,
    segments: int | None,
    to: str = "",
    at: datetime | None = None,
    organisation_id: int | None = None,
) -> CostLine | None:
    """The price of one sent message on `channel` to `to` (SMS: per segment) by the rule in force at `at`, or
    None when no price is configured. A plain dataclass: this runs for every sent message, and a model instance
    costs more than the math. Decimal throughout: a ledger of floats does not add up."""
    rule = price_for(channel=channel, provider=provider, to=to, at=at, organisation_id=organisation_id)
    if rule is None:
        return None
    units = _units(rule, segments)
    amount = rule.price * units
    return CostLine(
        channel=channel,
        provider=provider,
        units=units,
        unit_price=rule.price,
        amount=amount,
        currency=rule.currency,
        estimated_amount=amount,
        pricing_rule_id=rule.pk,
    )
