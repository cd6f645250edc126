"""Writes for the cost ledger and prices."""

from __future__ import annotations

from decimal import Decimal

from notifications.constants import Channel

from .models import CostEntry, PricingRule
from .selectors import price_for

DEFAULT_PRICES = [
    # channel, unit, price (USD) -- the catalogue's defaults, editable in the admin afterwards.
    (Channel.SMS, PricingRule.Unit.SEGMENT, Decimal("0.0075")),
    (Channel.EMAIL, PricingRule.Unit.MESSAGE, Decimal("0.0001")),
]


def pricing_install_defaults() -> int:
    """Create the default channel-wide prices that do not exist yet; never overwrite an edited one."""
    created = 0
    for channel, unit, price in DEFAULT_PRICES:
        _, was_created = PricingRule.objects.get_or_create(
            channel=channel, provider="", defaults={"unit": unit, "price": price, "currency": "USD"}
        )
        created += was_created
    return created


def cost_estimate(*, channel: str, provider: str = "", segments: int | None) -> tuple[Decimal, str] | None:
    """Price of one message on `channel` (SMS: per segment), or None when no price is configured."""
    rule = price_for(channel=channel, provider=provider)
    if rule is None:
        return None
    units = max(1, segments or 1) if rule.unit == PricingRule.Unit.SEGMENT else 1
    return rule.price * units, rule.currency


def cost_entry_build(*, notification, provider: str, segments: int | None) -> CostEntry | None:
    """The (unsaved) ledger row for a sent notification, or None when no price is configured."""
    rule = price_for(channel=notification.channel, provider=provider)
    if rule is None:
        return None
    units = max(1, segments or 1) if rule.unit == PricingRule.Unit.SEGMENT else 1
    return CostEntry(
        notification=notification,
        channel=notification.channel,
        provider=provider,
        units=units,
        unit_price=rule.price,
        amount=rule.price * units,
        currency=rule.currency,
        is_estimate=True,
    )
