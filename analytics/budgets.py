"""Budgets against the ledger: set each current period's spend to what its notifications really cost."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from costs.budgets import budget_spend_correct, period_bounds, period_start
from costs.models import Budget
from notifications.constants import Status
from notifications.models import Notification

# Reserved at submit but never spent: refused or cancelled later, or failed without reaching a provider.
_NOT_SPENT = Q(status__in=[Status.SUPPRESSED, Status.CANCELLED]) | Q(status=Status.FAILED, sent_at__isnull=True)


def _rows_counted(budget: Budget, lo: datetime, hi: datetime) -> QuerySet[Notification]:
    rows = Notification.objects.filter(send_at__gte=lo, send_at__lt=hi, currency=budget.currency, cost__isnull=False)
    rows = rows.exclude(_NOT_SPENT)
    if budget.channel:
        rows = rows.filter(channel=budget.channel)
    if budget.scope == Budget.Scope.TYPE:
        rows = rows.filter(notification_type_id=budget.notification_type_id)
    elif budget.scope == Budget.Scope.RECIPIENT and budget.recipient_id is not None:
        rows = rows.filter(recipient_id=budget.recipient_id)
    return rows


def budgets_reconcile(*, now: datetime) -> int:
    """Set every current period's spend to what the notifications in it really cost (actual prices; refused,
    cancelled and never-sent ones count nothing). Returns the number of spend rows corrected."""
    corrected = 0
    for budget in Budget.objects.filter(is_active=True):
        start = period_start(budget, now)
        rows = _rows_counted(budget, *period_bounds(budget, start))

        def truth(budget: Budget = budget, rows: QuerySet[Notification] = rows) -> dict[str, Decimal]:
            if budget.scope == Budget.Scope.EACH_RECIPIENT:
                by_recipient = rows.values("recipient_id").annotate(total=Sum("cost"))
                return {str(r["recipient_id"]): r["total"] for r in by_recipient}
            return {"": rows.aggregate(total=Sum("cost"))["total"] or Decimal(0)}

        corrected += budget_spend_correct(budget=budget, start=start, truth=truth)
    return corrected
