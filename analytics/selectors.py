"""Reads for analytics: rollups for the API and the dashboard."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum

from .models import DailyRollup, RecipientDailyCost

# --- analytics reads (the API and the dashboard) -----------------------------------------------------

COUNT_FIELDS = (
    "submitted",
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
)


def rollups_in(*, start, end, type_key: str | None = None, channel: str | None = None, provider: str | None = None):
    """Rollup rows for the days start..end (inclusive), filtered."""
    rows = DailyRollup.objects.filter(day__gte=start, day__lte=end).select_related("notification_type")
    if type_key:
        rows = rows.filter(notification_type__key=type_key)
    if channel:
        rows = rows.filter(channel=channel)
    if provider:
        rows = rows.filter(provider=provider)
    return rows.order_by("day", "notification_type__key", "channel", "provider")


def daily_totals(*, start, end, **filters) -> list[dict]:
    """One entry per day from start to end (days without traffic are zeros): the counts, the cost per
    currency and the delivery rate (delivered / sent)."""
    days: dict = {}
    day = start
    while day <= end:
        days[day] = {"day": day, **dict.fromkeys(COUNT_FIELDS, 0), "cost": {}}
        day += timedelta(days=1)
    for r in rollups_in(start=start, end=end, **filters):
        entry = days[r.day]
        for name in COUNT_FIELDS:
            entry[name] += getattr(r, name)
        entry["cost"][r.currency] = entry["cost"].get(r.currency, Decimal(0)) + r.cost
    for entry in days.values():
        entry["delivery_rate"] = round(entry["delivered"] / entry["sent"], 4) if entry["sent"] else None
    return list(days.values())


def cost_breakdown(*, start, end, group_by: str) -> list[dict]:
    """Cost and units between start and end grouped by day, type, channel, provider or recipient."""
    if group_by == "recipient":
        rows = (
            RecipientDailyCost.objects.filter(day__gte=start, day__lte=end)
            .values("recipient__external_id", "currency")
            .annotate(messages=Sum("messages"), units=Sum("units"), cost=Sum("cost"))
            .order_by("-cost")[:500]
        )
        return [
            {
                "recipient": r["recipient__external_id"],
                "currency": r["currency"],
                "messages": r["messages"],
                "units": r["units"],
                "cost": r["cost"],
            }
            for r in rows
        ]
    field = {"day": "day", "type": "notification_type__key", "channel": "channel", "provider": "provider"}[group_by]
    rows = (
        DailyRollup.objects.filter(day__gte=start, day__lte=end)
        .values(field, "currency")
        .annotate(sent=Sum("sent"), units=Sum("units"), cost=Sum("cost"))
        .order_by(field, "currency")
    )
    return [
        {group_by: r[field], "currency": r["currency"], "sent": r["sent"], "units": r["units"], "cost": r["cost"]}
        for r in rows
    ]
