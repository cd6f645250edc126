"""Reads for prices and costs."""

from __future__ import annotations

from commhub.snapshot import Snapshot

from .models import PricingRule


def _load_rules() -> dict[tuple[str, str], PricingRule]:
    return {(r.channel, r.provider): r for r in PricingRule.objects.filter(is_active=True)}


pricing_rules = Snapshot(_load_rules)


def price_for(*, channel: str, provider: str = "") -> PricingRule | None:
    """The provider-specific rule if there is one, else the channel-wide rule."""
    rules = pricing_rules.get()
    return rules.get((channel, provider)) or rules.get((channel, ""))
