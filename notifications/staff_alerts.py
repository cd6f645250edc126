"""Alerts to staff, sent through commhub itself (the `staff_alert` type): a crossed alert budget, a webhook endpoint
disabled after failing for days."""

from __future__ import annotations

import logging
from decimal import Decimal

from commhub import tenancy
from commhub.conf import knobs
from costs.budgets import STAFF_ALERT_TYPE
from costs.models import Budget
from preferences.models import Recipient

from .services import SubmitRequest, notifications_submit_batch

logger = logging.getLogger(__name__)


def staff_alert_budget_crossed(*, budget: Budget, spent: Decimal) -> None:
    """One email per alert recipient (the budget's own list, else COMMHUB_BUDGET_ALERT_RECIPIENTS), recipients of
    the budget's organisation. Runs after the submit that crossed the budget has committed."""
    with tenancy.within(budget.organisation_id or tenancy.DEFAULT_ORGANISATION_ID):
        _alert(budget, spent)


def _alert(budget: Budget, spent: Decimal) -> None:
    names = [n.strip() for n in (budget.notify or "").split(",") if n.strip()]
    message = (
        f"The {budget.label} has committed {spent.normalize():f} {budget.currency} this period. "
        f"{'Sends over the limit are refused.' if budget.action == Budget.Action.BLOCK else 'Sends continue.'}"
    )
    _send(names, subject=f"Budget crossed: {budget.name}", message=message, about=f"budget {budget.pk}")


def staff_alert_send(*, organisation_id: int | None, subject: str, message: str, about: str) -> None:
    """Tell an organisation's staff something (COMMHUB_BUDGET_ALERT_RECIPIENTS, the staff mailbox by default)."""
    with tenancy.within(organisation_id or tenancy.DEFAULT_ORGANISATION_ID):
        _send([], subject=subject, message=message, about=about)


def _send(names: list[str], *, subject: str, message: str, about: str) -> None:
    names = names or knobs().budget_alert_recipients
    if names == ["staff"]:  # the built-in staff mailbox: make sure it exists
        Recipient.objects.get_or_create(external_id="staff", defaults={"email": knobs().staff_email})
    results = notifications_submit_batch(
        [
            SubmitRequest(recipient=name, type=STAFF_ALERT_TYPE, data={"subject": subject, "message": message})
            for name in names
        ]
    )
    for r in results:
        if not r.ok:
            logger.error("%s: the staff alert to %s was not accepted: %s", about, r.request.recipient, r.errors)
