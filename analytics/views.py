"""The admin dashboard: volume, cost and delivery rate over time, and queue depth now, as server-side SVG."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import mark_safe

from commhub import channels
from notifications.models import NotificationType

from .charts import bar_chart, hbar_chart, line_chart
from .maintenance import queue_depths
from .selectors import daily_totals

RANGES = {"7": 7, "30": 30, "90": 90}


@staff_member_required
def dashboard_view(request):
    """GET /admin/analytics/dashboard/?days=30&type=...&channel=... (staff with analytics.view_dailyrollup)."""
    if not request.user.has_perm("analytics.view_dailyrollup"):
        raise PermissionDenied
    days = RANGES.get(request.GET.get("days", "30"), 30)
    type_key = request.GET.get("type") or None
    channel = request.GET.get("channel") or None
    if channel is not None and not channels.exists(channel):
        channel = None
    now = timezone.now()
    end = now.date()
    start = end - timedelta(days=days - 1)
    # today from the rows themselves (its stored rollup may be minutes old); earlier days from the rollups
    totals = daily_totals(start=start, end=end, live=end, type_key=type_key, channel=channel)
    labels = [f"{d['day']:%m-%d}" for d in totals]
    currencies = sorted({c for d in totals for c in d["cost"]}) or ["USD"]
    currency = currencies[0]
    cost = [float(d["cost"].get(currency, Decimal(0))) for d in totals]
    tracked = [d for d in totals if d["delivery_rate"] is not None]
    rate = {"delivery rate": [100 * d["delivery_rate"] for d in tracked]}
    depths = queue_depths(now=timezone.now())
    charts = {
        "volume": line_chart(
            "Notifications per day",
            labels,
            {name: [d[name] for d in totals] for name in ("sent", "delivered", "failed", "bounced", "opened")},
        ),
        "cost": bar_chart(f"Cost per day ({currency})", labels, cost, unit="$", name=currency),
        "rate": line_chart(
            "Delivery rate (delivered / sent, where the provider reports delivery)",
            [f"{d['day']:%m-%d}" for d in tracked],
            rate,
            unit="%",
        )
        if tracked
        else "",
        "queues": hbar_chart("Queue depth now (ready rows)", list(depths), [d["ready"] for d in depths.values()]),
    }
    summary = {
        "sent": sum(d["sent"] for d in totals),
        "delivered": sum(d["delivered"] for d in totals),
        "failed": sum(d["failed"] for d in totals),
        "cost": sum((d["cost"].get(currency, Decimal(0)) for d in totals), Decimal(0)),
        "currency": currency,
    }
    tracked_sent = sum(d["tracked_sent"] for d in totals)
    tracked_delivered = sum(d["tracked_delivered"] for d in totals)
    summary["delivery_rate"] = (
        f"{100 * tracked_delivered / tracked_sent:.1f}%" if tracked_sent else "delivery not tracked"
    )
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "charts": {name: mark_safe(svg) for name, svg in charts.items()},  # noqa: S308 (built from numbers; labels escaped)
        "summary": summary,
        "depths": depths,
        "days": days,
        "ranges": list(RANGES),
        "types": NotificationType.objects.order_by("key").values_list("key", flat=True),
        "channels": channels.names(),
        "type_key": type_key or "",
        "channel": channel or "",
        "start": start,
        "end": end,
        "as_of": now,
        "delivery_tracked": bool(tracked),
    }
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)
