from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .budgets import active_budgets
from .models import Budget, PricingRule
from .selectors import pricing_rules


@receiver([post_save, post_delete], sender=PricingRule)
def _pricing_changed(**kwargs) -> None:
    pricing_rules.invalidate()


@receiver([post_save, post_delete], sender=Budget)
def _budgets_changed(**kwargs) -> None:
    active_budgets.invalidate()
