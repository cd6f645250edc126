"""Reads for prices and budgets: in-process snapshots (the submit and send paths read them for every message)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from commhub.snapshot import Snapshot

from .models import Budget, PricingRule


def _load_rules() -> dict[str, list[PricingRule]]:
    """Active rules per channel, most specific first (longest prefix, provider-specific, latest start)."""
    rules: dict[str, list[PricingRule]] = {}
    for rule in PricingRule.objects.filter(is_active=True):
        rules.setdefault(rule.channel, []).append(rule)
    for channel_rules in rules.values():
        channel_rules.sort(
            key=lambda r: (
                -len(r.country_prefix),
                r.provider == "",
                -(r.effective_from.timestamp() if r.effective_from else float("-inf")),
            )
        )
    return rules


pricing_rules = Snapshot(_load_rules)


def price_for(
    *,
    channel: str,
    provider: str = "",
    to: str = "",
    at: datetime | None = None,
    organisation_id: int | None = None,
) -> PricingRule | None:
    """The rule in force at `at` (default: now) for a message of `organisation_id` on `channel` through
    `provider` to `to`: the organisation's own rules first, then the shared list; in each, the longest matching
    destination prefix, then the provider's own rule over the channel-wide one."""
    at = at or timezone.now()
    rules = pricing_rules.get().get(channel, ())
    for owner in (organisation_id, None) if organisation_id is not None else (None,):
        for rule in rules:
            if rule.organisation_id != owner or rule.provider not in ("", provider):
                continue
            if rule.country_prefix and not to.startswith(rule.country_prefix):
                continue
            if rule.in_force(at):
                return rule
    return None


def _load_active_budgets() -> list[Budget]:
    return list(Budget.objects.filter(is_active=True).order_by("pk"))


active_budgets = Snapshot(_load_active_budgets)
