from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import PricingRule
from .selectors import pricing_rules


@receiver([post_save, post_delete], sender=PricingRule)
def _pricing_changed(**kwargs) -> None:
    pricing_rules.invalidate()
