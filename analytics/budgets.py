"""Budgets: the decision engine's last check at submit, and their reconciliation with the ledger.

At submit, every active budget that covers the notification (its channel, type, recipient) has a spend row
for the current period (the UTC day or month of the notification's `send_at`). The rows are locked in a
stable order for the rest of the submit transaction, so concurrent submits see each other's spend:

* a blocking budget refuses the notification whose estimated cost would take the period's spend past the
  limit (spend + cost <= limit passes, so sends stop exactly at the cap), with the budget named in the trace;
* an alert budget lets it through and, the first time the spend passes the limit in a period, tells staff
  through commhub itself (a `staff_alert` email to the budget's recipients), once per period.

Spend is what was let through, at the submit-time estimate; `budgets_reconcile` (run with the rollups) sets it
to the ledger's truth: the provider's actual prices, and nothing for messages that were refused or cancelled
later or failed without reaching a provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum

from commhub.conf import knobs
from commhub.snapshot import Snapshot
from notifications.constants import Status

from .models import Budget, BudgetSpend

logger = logging.getLogger(__name__)

STAFF_ALERT_TYPE = "staff_alert"
_NOT_SPENT = Q(status__in=[Status.SUPPRESSED, Status.CANCELLED]) | Q(status=Status.FAILED, sent_at__isnull=True)

active_budgets = Snapshot(lambda: list(Budget.objects.filter(is_active=True).order_by("pk")))


def period_start(budget: Budget, at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day.replace(day=1) if budget.period == Budget.Period.MONTHLY else day


def period_bounds(budget: Budget, start: date) -> tuple[datetime, datetime]:
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    if budget.period == Budget.Period.MONTHLY:
        following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return lo, datetime.combine(following, time.min, tzinfo=UTC)
    return lo, lo + timedelta(days=1)


def _covers(budget: Budget, notification) -> bool:
    if budget.channel and budget.channel != notification.channel:
        return False
    if budget.currency != notification.currency:
        return False  # a budget counts its own currency only
    if budget.scope == Budget.Scope.TYPE:
        return budget.notification_type_id == notification.notification_type_id
    if budget.scope == Budget.Scope.RECIPIENT:
        return budget.recipient_id == notification.recipient_id
    return True


def _subject(budget: Budget, notification) -> str:
    return str(notification.recipient_id) if budget.scope == Budget.Scope.EACH_RECIPIENT else ""


@dataclass
class BudgetVerdict:
    refused: bool
    reason: str


def budgets_apply(notification) -> BudgetVerdict | None:
    """Check and reserve `notification`'s estimated cost against every budget covering it (call inside the
    submit transaction). None when no budget covers it."""
    cost = notification.cost
    if cost is None or notification.notification_type.key == STAFF_ALERT_TYPE:
        return None
    budgets = [b for b in active_budgets.get() if _covers(b, notification)]
    if not budgets:
        return None
    spends = []
    for budget in budgets:  # ordered by pk: concurrent submits lock in the same order
        key = {"budget": budget, "period_start": period_start(budget, notification.send_at)}
        key["subject"] = _subject(budget, notification)
        locked = BudgetSpend.objects.select_for_update().filter(**key)
        spend = locked.first()
        if spend is None:  # the period's first message: create its row, then lock it like any other
            BudgetSpend.objects.get_or_create(**key)
            spend = locked.get()
        spends.append((budget, spend))
    for budget, spend in spends:
        if budget.action == Budget.Action.BLOCK and spend.spent + cost > budget.limit:
            BudgetSpend.objects.filter(pk=spend.pk).update(refused=F("refused") + 1)
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
        update = {"spent": F("spent") + cost}
        if budget.action == Budget.Action.ALERT and after > budget.limit and spend.alerted_at is None:
            update["alerted_at"] = notification.created_at
            transaction.on_commit(lambda b=budget, a=after: staff_alert_budget(b, a))
        BudgetSpend.objects.filter(pk=spend.pk).update(**update)
        notes.append(f"{budget.label}: {after.normalize():f} committed")
    return BudgetVerdict(refused=False, reason="; ".join(notes))


def staff_alert_budget(budget: Budget, spent: Decimal) -> None:
    """Tell staff a budget was crossed, through commhub: one email per alert recipient. Runs after the
    submit's commit: a failure here is logged, never turned into an error for the request that crossed it."""
    try:
        _staff_alert(budget, spent)
    except Exception:
        logger.exception("budget %s crossed, but the staff alert could not be submitted", budget.pk)


def _staff_alert(budget: Budget, spent: Decimal) -> None:
    from notifications.services import SubmitRequest, notifications_submit_batch
    from preferences.models import Recipient

    names = [n.strip() for n in (budget.notify or "").split(",") if n.strip()]
    names = names or knobs().budget_alert_recipients
    if names == ["staff"]:  # the built-in staff mailbox: make sure it exists
        Recipient.objects.get_or_create(external_id="staff", defaults={"email": knobs().staff_email})
    subject = f"Budget crossed: {budget.name}"
    message = (
        f"The {budget.label} has committed {spent.normalize():f} {budget.currency} this period. "
        f"{'Sends over the limit are refused.' if budget.action == Budget.Action.BLOCK else 'Sends continue.'}"
    )
    results = notifications_submit_batch(
        [
            SubmitRequest(recipient=name, type=STAFF_ALERT_TYPE, data={"subject": subject, "message": message})
            for name in names
        ]
    )
    for r in results:
        if not r.ok:
            logger.error(
                "budget %s: the staff alert to %s was not accepted: %s", budget.pk, r.request.recipient, r.errors
            )


def budgets_reconcile(*, now: datetime) -> int:
    """Set every current period's spend to what the notifications in it really cost (actual prices; refused,
    cancelled and never-sent ones count nothing). Returns the number of spend rows corrected."""
    from notifications.models import Notification

    corrected = 0
    for budget in Budget.objects.filter(is_active=True):
        start = period_start(budget, now)
        lo, hi = period_bounds(budget, start)
        rows = Notification.objects.filter(
            send_at__gte=lo, send_at__lt=hi, currency=budget.currency, cost__isnull=False
        )
        rows = rows.exclude(_NOT_SPENT)
        if budget.channel:
            rows = rows.filter(channel=budget.channel)
        if budget.scope == Budget.Scope.TYPE:
            rows = rows.filter(notification_type_id=budget.notification_type_id)
        elif budget.scope == Budget.Scope.RECIPIENT:
            rows = rows.filter(recipient_id=budget.recipient_id)
        with transaction.atomic():
            spends = {
                s.subject: s for s in BudgetSpend.objects.select_for_update().filter(budget=budget, period_start=start)
            }
            if budget.scope == Budget.Scope.EACH_RECIPIENT:
                truth = {
                    str(r["recipient_id"]): r["total"] for r in rows.values("recipient_id").annotate(total=Sum("cost"))
                }
            else:
                truth = {"": rows.aggregate(total=Sum("cost"))["total"] or Decimal(0)}
            for subject, spend in spends.items():
                actual = truth.get(subject, Decimal(0))
                if spend.spent != actual:
                    BudgetSpend.objects.filter(pk=spend.pk).update(spent=actual)
                    corrected += 1
    return corrected
