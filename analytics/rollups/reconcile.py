"""Checking the rollups against the cost ledger, per day x type x channel x currency: `manage.py rollups`,
the nightly job and the benchmarks name every difference."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from analytics.models import DailyRollup
from costs.models import CostEntry

from .rebuild import day_bounds


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
