"""Daily rollups, rebuilt from the rows they summarise.

A day's rollup is recomputed whole (delete and insert in one transaction) from the notifications submitted
that day, their cost entries and their provider events, so it can never drift from the ledger. The periodic
task rebuilds only the last COMMHUB_ROLLUP_DAYS days (the days still changing: deliveries, opens and price
callbacks arrive after the send); older days stay as built, and `manage.py rollups --from ... --to ...`
rebuilds any range. `rollups_reconcile` compares rollups with the ledger and names any difference.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from commhub.conf import knobs
from costs.models import CostEntry
from notifications.constants import Status
from notifications.models import Notification, ProviderEvent

from .models import DailyRollup, RecipientDailyCost

logger = logging.getLogger(__name__)

EVENT_COLUMNS = ("bounced", "complained", "opened", "clicked", "unsubscribed")
# a notification's currency: its cost entry's when it has one (the provider may bill in another), else its own
_CURRENCY = Coalesce(F("cost_entry__currency"), F("currency"))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _percentile(sorted_ms: list[int], q: float) -> int | None:
    """Nearest-rank percentile of a sorted list (what an operator reads as 'p95')."""
    if not sorted_ms:
        return None
    rank = max(1, -(-len(sorted_ms) * q // 1))  # ceil(n * q)
    return sorted_ms[int(rank) - 1]


def day_rollups(day: date) -> list[DailyRollup]:
    """A day's rollup rows computed from the rows they summarise, not saved: what the rebuild stores, and what the
    dashboard shows for today (live, where the stored rollup may be minutes old)."""
    start, end = day_bounds(day)
    rows = Notification.objects.filter(created_at__gte=start, created_at__lt=end)
    group = ("organisation_id", "notification_type_id", "channel", "provider", "cur")
    base = (
        rows.annotate(cur=_CURRENCY)
        .values(*group)
        .annotate(
            submitted=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            delivered=Count("pk", filter=Q(status=Status.DELIVERED)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            suppressed=Count("pk", filter=Q(status=Status.SUPPRESSED)),
            units=Coalesce(Sum("cost_entry__units"), 0),
            cost=Coalesce(Sum("cost_entry__amount"), Decimal("0")),
        )
    )
    rollups: dict[tuple, DailyRollup] = {}
    for r in base:
        key = tuple(r[k] for k in group)
        rollups[key] = DailyRollup(
            day=day,
            organisation_id=r["organisation_id"],
            notification_type_id=r["notification_type_id"],
            channel=r["channel"],
            provider=r["provider"],
            currency=r["cur"],
            **{k: r[k] for k in ("submitted", "sent", "delivered", "failed", "suppressed", "units", "cost")},
        )
    # engagement: distinct notifications with at least one event of each kind (a second open is not a second reader)
    events = (
        ProviderEvent.objects.filter(notification__created_at__gte=start, notification__created_at__lt=end)
        .filter(event_type__in=EVENT_COLUMNS)
        .annotate(cur=Coalesce(F("notification__cost_entry__currency"), F("notification__currency")))
        .values(
            "notification__organisation_id",
            "notification__notification_type_id",
            "notification__channel",
            "notification__provider",
            "cur",
            "event_type",
        )
        .annotate(n=Count("notification_id", distinct=True))
    )
    for e in events:
        key = (
            e["notification__organisation_id"],
            e["notification__notification_type_id"],
            e["notification__channel"],
            e["notification__provider"],
            e["cur"],
        )
        if key in rollups:
            setattr(rollups[key], e["event_type"], e["n"])
    # time to deliver, per group
    durations: dict[tuple, list[int]] = defaultdict(list)
    delivered = (
        rows.filter(status=Status.DELIVERED, sent_at__isnull=False, delivered_at__isnull=False)
        .annotate(cur=_CURRENCY)
        .values_list(*group, "sent_at", "delivered_at")
    )
    for *key, sent_at, delivered_at in delivered:
        durations[tuple(key)].append(max(0, int((delivered_at - sent_at).total_seconds() * 1000)))
    for key, values in durations.items():
        values.sort()
        if key in rollups:
            rollups[key].ttd_p50_ms, rollups[key].ttd_p95_ms = _percentile(values, 0.5), _percentile(values, 0.95)
    return list(rollups.values())


def _build_day(day: date) -> tuple[int, int]:
    rollups = day_rollups(day)
    start, end = day_bounds(day)
    per_recipient = (
        CostEntry.objects.filter(notification__created_at__gte=start, notification__created_at__lt=end)
        .values("notification__recipient_id", "channel", "currency")
        .annotate(messages=Count("pk"), units=Sum("units"), cost=Sum("amount"))
    )
    recipient_rows = [
        RecipientDailyCost(
            day=day,
            recipient_id=r["notification__recipient_id"],
            channel=r["channel"],
            currency=r["currency"],
            messages=r["messages"],
            units=r["units"],
            cost=r["cost"],
        )
        for r in per_recipient
    ]
    with transaction.atomic():
        DailyRollup.objects.filter(day=day).delete()
        RecipientDailyCost.objects.filter(day=day).delete()
        DailyRollup.objects.bulk_create(rollups, batch_size=1000)
        RecipientDailyCost.objects.bulk_create(recipient_rows, batch_size=1000)
    return len(rollups), len(recipient_rows)


def rollups_build(
    *, start: date | None = None, end: date | None = None, progress: Callable[[date, int, int], None] | None = None
) -> int:
    """Rebuild the rollups of every day from `start` to `end` (inclusive; default: the last
    COMMHUB_ROLLUP_DAYS days up to today). Returns the number of days rebuilt."""
    today = timezone.now().astimezone(UTC).date()
    end = end or today
    start = start or end - timedelta(days=knobs().rollup_days - 1)
    day, built = start, 0
    while day <= end:
        groups, recipients = _build_day(day)
        if progress:
            progress(day, groups, recipients)
        day += timedelta(days=1)
        built += 1
    return built


@dataclass
class Mismatch:
    day: date
    key: str
    rollup: Decimal
    ledger: Decimal


def rollups_reconcile(*, start: date, end: date) -> list[Mismatch]:
    """Compare the rollups' cost with the ledger, per day x type x channel x currency. Empty: they agree."""
    lo, _ = day_bounds(start)
    _, hi = day_bounds(end)
    ledger: dict[tuple, Decimal] = defaultdict(Decimal)
    for entry in CostEntry.objects.filter(notification__created_at__gte=lo, notification__created_at__lt=hi).values(
        "notification__created_at", "notification__notification_type_id", "channel", "currency", "amount"
    ):
        day = entry["notification__created_at"].astimezone(UTC).date()
        ledger[(day, entry["notification__notification_type_id"], entry["channel"], entry["currency"])] += entry[
            "amount"
        ]
    rolled: dict[tuple, Decimal] = defaultdict(Decimal)
    for r in DailyRollup.objects.filter(day__gte=start, day__lte=end).values(
        "day", "notification_type_id", "channel", "currency", "cost"
    ):
        rolled[(r["day"], r["notification_type_id"], r["channel"], r["currency"])] += r["cost"]
    mismatches = []
    for key in sorted(set(ledger) | set(rolled), key=str):
        if ledger.get(key, Decimal(0)) != rolled.get(key, Decimal(0)):
            mismatches.append(
                Mismatch(
                    day=key[0],
                    key="/".join(map(str, key[1:])),
                    rollup=rolled.get(key, Decimal(0)),
                    ledger=ledger.get(key, Decimal(0)),
                )
            )
    return mismatches
