"""Receivers: snapshot invalidation, periodic tasks after migrate, provider tracking events, budget alerts."""

from __future__ import annotations

from decimal import Decimal

from anymail.signals import tracking
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from commhub.snapshot import invalidate_all
from costs.models import Budget
from costs.signals import budget_crossed

from .models import NotificationType, TypeChannel, TypeOverride
from .roles import roles_install
from .schedules import periodic_tasks_install
from .selectors import notification_types
from .staff_alerts import staff_alert_budget_crossed
from .webhooks import anymail_tracking_received


@receiver([post_save, post_delete], sender=NotificationType)
@receiver([post_save, post_delete], sender=TypeChannel)
@receiver([post_save, post_delete], sender=TypeOverride)
def _type_changed(**kwargs) -> None:
    notification_types.invalidate()


@receiver(post_migrate)
def _after_migrate(sender, **kwargs) -> None:
    # `flush` emits post_migrate too: the snapshots may describe rows that no longer exist.
    invalidate_all()
    if sender.name == "notifications":
        periodic_tasks_install()
    if sender.name in ("notifications", "analytics"):  # the last commhub apps: their permissions exist by now
        roles_install()


@receiver(tracking, dispatch_uid="commhub-anymail-tracking")
def _anymail_tracking(sender, event, esp_name, **kwargs) -> None:
    anymail_tracking_received(sender, event, esp_name, **kwargs)


@receiver(budget_crossed, sender=Budget, dispatch_uid="commhub-budget-alert")
def _budget_crossed(sender, *, budget: Budget, spent: Decimal, **kwargs) -> None:
    staff_alert_budget_crossed(budget=budget, spent=spent)
