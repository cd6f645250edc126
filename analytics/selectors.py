"""Reads for analytics: rollups for the API and the dashboard."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from .models import DailyRollup, RecipientDailyCost
from .rollups import rollups_fold

# --- analytics reads (the API and the dashboard) -----------------------------------------------------

COUNT_FIELDS = (
    "submitted",
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "cancelled",
    "expired",
    "still_sent",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
    "digested",
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


UNTRACKED_PROVIDERS = frozenset({"", "capture", "console", "smtp"})  # never report delivery back


def delivery_tracked(provider: str) -> bool:
    """Whether `provider` can tell commhub a message was delivered: Twilio with status callbacks on, an ESP when its
    tracking webhooks are served (they need ANYMAIL WEBHOOK_SECRET); never capture, console or SMTP."""
    if provider in UNTRACKED_PROVIDERS:
        return False
    if provider == "twilio":
        return bool(settings.TWILIO_STATUS_CALLBACKS)
    return bool(settings.ANYMAIL.get("WEBHOOK_SECRET"))


def daily_totals(*, start, end, live: date | None = None, **filters) -> list[dict]:
    """One entry per day from start to end (days without traffic are zeros): the counts, the cost per currency
    and the delivery rate (tracked_delivered / tracked_sent: over the providers that report delivery; None when
    none does).
    With `live` (today, on the dashboard) in range, an incremental pass first folds what changed since the last one
    (none when a pass is running: its result is moments away)."""
    days: dict = {}
    day = start
    while day <= end:
        days[day] = {
            "day": day,
            **dict.fromkeys(COUNT_FIELDS, 0),
            "cost": {},
            "tracked_sent": 0,
            "tracked_delivered": 0,
        }
        day += timedelta(days=1)
    if live is not None and start <= live <= end:
        rollups_fold(wait=False)  # today as of now: folds only what changed since the last pass
    rows = list(rollups_in(start=start, end=end, **filters))
    for r in rows:
        entry = days[r.day]
        for name in COUNT_FIELDS:
            entry[name] += getattr(r, name)
        entry["cost"][r.currency] = entry["cost"].get(r.currency, Decimal(0)) + r.cost
        if r.delivered or delivery_tracked(r.provider):
            entry["tracked_sent"] += r.sent
            entry["tracked_delivered"] += r.delivered
    for entry in days.values():
        tracked = entry["tracked_sent"]
        entry["delivery_rate"] = round(entry["tracked_delivered"] / tracked, 4) if tracked else None
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
