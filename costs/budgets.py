"""Budgets: the decision engine's last check at submit, and their reconciliation with the ledger.

At submit, every active budget that covers the notification (its channel, type, recipient) has a spend row
for the current period (the UTC day or month of the notification's `send_at`). The rows are locked in a
stable order for the rest of the submit transaction, so concurrent submits see each other's spend:

* a blocking budget refuses the notification whose estimated cost would take the period's spend past the
  limit (spend + cost <= limit passes, so sends stop exactly at the cap), with the budget named in the trace;
  a critical alert (priority 1) is sent and counted over the limit unless the budget says `include_critical`;
* an alert budget lets it through and, the first time the spend passes the limit in a period, tells staff
  through commhub itself (a `staff_alert` email to the budget's recipients), once per period.

Spend is what was let through, at the submit-time estimate; analytics' `budgets_reconcile` (run with the
rollups) sets it to the ledger's truth through `budget_spend_correct`: the provider's actual prices, and nothing
for messages that were refused or cancelled later or failed without reaching a provider.

Crossing an alert budget sends the `budget_crossed` signal after the submit commits; notifications turns it
into a staff alert (this app sits below notifications and cannot submit one itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F

from .models import Budget, BudgetSpend
from .selectors import active_budgets
from .signals import budget_crossed

logger = logging.getLogger(__name__)

STAFF_ALERT_TYPE = "staff_alert"  # the notification type budget alerts are sent as (never counted itself)


def period_start(budget: Budget, at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day.replace(day=1) if budget.period == Budget.Period.MONTHLY else day


def period_bounds(budget: Budget, start: date) -> tuple[datetime, datetime]:
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    if budget.period == Budget.Period.MONTHLY:
        following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return lo, datetime.combine(following, time.min, tzinfo=UTC)
    return lo, lo + timedelta(days=1)


def _covers(budget: Budget, notification: Any) -> bool:
    if budget.organisation_id != notification.organisation_id:
        return False  # an organisation's budget counts its own messages only
    if budget.channel and budget.channel != notification.channel:
        return False
    if budget.currency != notification.currency:
        return False  # a budget counts its own currency only
    if budget.scope == Budget.Scope.TYPE:
        return budget.notification_type_id == notification.notification_type_id
    if budget.scope == Budget.Scope.RECIPIENT:
        return budget.recipient_id == notification.recipient_id
    return True


def _subject(budget: Budget, notification: Any) -> str:
    return str(notification.recipient_id) if budget.scope == Budget.Scope.EACH_RECIPIENT else ""


@dataclass
class BudgetVerdict:
    refused: bool
    reason: str


def budgets_apply(notification: Any, *, active: Sequence[Budget] | None = None) -> BudgetVerdict | None:
    """Check and reserve `notification`'s estimated cost against every budget covering it (call inside the
    submit transaction). None when no budget covers it. `active`: the active budgets as the caller read them
    (it decided from them whether it needs a transaction), else the snapshot's."""
    cost = notification.cost
    if cost is None or notification.notification_type.key == STAFF_ALERT_TYPE:
        return None
    budgets = [b for b in (active_budgets.get() if active is None else active) if _covers(b, notification)]
    if not budgets:
        return None
    spends = []
    for budget in budgets:  # ordered by pk: concurrent submits lock in the same order
        key: dict[str, Any] = {
            "budget": budget,
            "period_start": period_start(budget, notification.send_at),
            "subject": _subject(budget, notification),
        }
        locked = BudgetSpend._base_manager.select_for_update().filter(**key)
        spend = locked.first()
        if spend is None:  # the period's first message: create its row, then lock it like any other
            BudgetSpend._base_manager.get_or_create(**key)
            spend = locked.get()
        spends.append((budget, spend))
    critical = notification.priority <= 1
    for budget, spend in spends:
        if critical and not budget.include_critical:
            continue  # counted below, never refused
        if budget.action == Budget.Action.BLOCK and spend.spent + cost > budget.limit:
            BudgetSpend._base_manager.filter(pk=spend.pk).update(refused=F("refused") + 1)
            return BudgetVerdict(
                refused=True,
                reason=(
                    f"{budget.label} would be exceeded: {spend.spent.normalize():f} {budget.currency} spent this "
                    f"period + {cost.normalize():f} for this message"
                ),
            )
    notes = []
    for budget, spend in spends:
        after = spend.spent + cost
        update: dict[str, Any] = {"spent": F("spent") + cost}
        if budget.action == Budget.Action.ALERT and after > budget.limit and spend.alerted_at is None:
            update["alerted_at"] = notification.created_at
            transaction.on_commit(partial(_announce_crossed, budget, after))
        BudgetSpend._base_manager.filter(pk=spend.pk).update(**update)
        exempt = critical and budget.action == Budget.Action.BLOCK and not budget.include_critical
        over = " (over the limit: a critical alert is not refused)" if exempt and after > budget.limit else ""
        notes.append(f"{budget.label}: {after.normalize():f} committed{over}")
    return BudgetVerdict(refused=False, reason="; ".join(notes))


def _announce_crossed(budget: Budget, spent: Decimal) -> None:
    """After the submit's commit: a failing receiver is logged, never an error for the request that crossed it."""
    for receiver, result in budget_crossed.send_robust(sender=Budget, budget=budget, spent=spent):
        if isinstance(result, Exception):
            logger.error("budget %s crossed; %s failed: %s", budget.pk, receiver, result, exc_info=result)


def budget_spend_correct(*, budget: Budget, start: date, truth: Callable[[], dict[str, Decimal]]) -> int:
    """Set the budget's spend rows for the period starting `start` to `truth()` (subject -> what it really
    cost; "" for budgets that are not per recipient), read once the rows are locked. Returns the number of rows
    corrected."""
    corrected = 0
    with transaction.atomic():
        locked = BudgetSpend._base_manager.select_for_update().filter(budget=budget, period_start=start)
        spends = {s.subject: s for s in locked}
        actual_by_subject = truth()
        for subject, spend in spends.items():
            actual = actual_by_subject.get(subject, Decimal(0))
            if spend.spent != actual:
                BudgetSpend._base_manager.filter(pk=spend.pk).update(spent=actual)
                corrected += 1
    return corrected
