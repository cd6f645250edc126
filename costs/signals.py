"""The costs app's signal, and the receivers that keep its in-process snapshots fresh."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from .models import Budget, PricingRule
from .selectors import active_budgets, pricing_rules

# An alert budget's spend passed its limit (sent once per period, after the submit commits): budget, spent.
budget_crossed = Signal()


@receiver([post_save, post_delete], sender=PricingRule)
def _pricing_changed(**kwargs: object) -> None:
    pricing_rules.invalidate()


@receiver([post_save, post_delete], sender=Budget)
def _budgets_changed(**kwargs: object) -> None:
    active_budgets.invalidate()
