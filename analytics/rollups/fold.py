"""Folding notifications into the rollups: subtract what each was counted as (its mark), add what it counts as
now (contributions.py), and write the difference to its group's rollup row and its recipient's daily cost.

A notification folded twice with nothing changed in between changes nothing, so the incremental pass can look
back further than its watermark (COMMHUB_ROLLUP_OVERLAP) and catch rows whose transaction committed late.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from analytics.models import DailyRollup

from .contributions import COUNTS, STATUS_BITS, Contribution, Delta, GroupKey, contributions_of, histogram_percentile
from .marks import CostKey, marks_drop, marks_read, marks_write, recipient_costs_add

ROLLUP_FIELDS = [*COUNTS, "units", "cost", "ttd_histogram", "ttd_p50_ms", "ttd_p95_ms"]


class Fold:
    """The differences of one pass (or one rebuild), applied at the end with a statement or two per table."""

    def __init__(self, *, open_from: date, recount: bool = False) -> None:
        self.open_from = open_from
        self.recount = recount  # a rebuild: the day's rollups and marks were emptied first
        self.groups: dict[GroupKey, Delta] = defaultdict(Delta)
        self.costs: dict[CostKey, list] = defaultdict(lambda: [0, 0, Decimal(0)])
        self.folded = 0

    def _count(self, c: Contribution, sign: int) -> None:
        self.groups[c.group].add(c, sign)
        if c.costed:
            entry = self.costs[(c.group[0], c.recipient_id, c.group[3], c.group[5])]
            entry[0] += sign
            entry[1] += sign * c.units
            entry[2] += sign * c.cost

    def keeps_mark(self, c: Contribution) -> bool:
        """A closed day keeps only the marks of notifications not final yet: their later moves still count."""
        return c.group[0] >= self.open_from or not c.flags & STATUS_BITS

    def ids(self, ids: Iterable[uuid.UUID]) -> None:
        ids = list(ids)
        prior = marks_read(ids)
        marks, unmarked = [], []
        for now in contributions_of(ids):
            before = prior.get(now.notification_id)
            if before is None and now.group[0] < self.open_from and not self.recount:
                continue  # counted when its day closed, final since: only a rebuild recounts it
            if before == now:
                continue
            if before is not None:
                self._count(before, -1)
            self._count(now, +1)
            self.folded += 1
            if self.keeps_mark(now):
                marks.append(now)
            elif before is not None:
                unmarked.append(now.notification_id)
        marks_write(marks)
        if unmarked:
            marks_drop(unmarked)

    def apply(self) -> None:
        self._apply_groups()
        self._apply_costs()

    def _apply_groups(self) -> None:
        changed = {key: d for key, d in self.groups.items() if not d.is_zero()}
        if not changed:
            return
        existing = {key_of(row): row for row in DailyRollup.objects.filter(day__in={key[0] for key in changed})}
        updated: list[DailyRollup] = []
        created: list[DailyRollup] = []
        emptied: list[int] = []
        for key, delta in changed.items():
            found = existing.get(key)
            if found is None:
                day, organisation, type_id, channel, provider, currency = key
                row = DailyRollup(
                    day=day,
                    organisation_id=organisation,
                    notification_type_id=type_id,
                    channel=channel,
                    provider=provider,
                    currency=currency,
                )
                created.append(row)
            else:
                row = found
                updated.append(row)
            _add(row, delta)
            if row.submitted <= 0 and row in updated:
                updated.remove(row)
                emptied.append(row.pk)
        if emptied:
            DailyRollup.objects.filter(pk__in=emptied).delete()
        if updated:
            DailyRollup.objects.bulk_update(updated, ROLLUP_FIELDS)
        DailyRollup.objects.bulk_create([row for row in created if row.submitted > 0], batch_size=1000)

    def _apply_costs(self) -> None:
        recipient_costs_add({key: v for key, v in self.costs.items() if any(v)})


def key_of(row: DailyRollup) -> GroupKey:
    return (row.day, row.organisation_id, row.notification_type_id, row.channel, row.provider, row.currency)


def _add(row: DailyRollup, delta: Delta) -> None:
    for name in COUNTS:
        setattr(row, name, getattr(row, name) + delta.counts[name])
    row.units += delta.units
    row.cost += delta.cost
    histogram = dict(row.ttd_histogram or {})
    for bucket, n in delta.ttd.items():
        histogram[bucket] = histogram.get(bucket, 0) + n
    row.ttd_histogram = {bucket: n for bucket, n in histogram.items() if n}
    row.ttd_p50_ms = histogram_percentile(row.ttd_histogram, 0.5)
    row.ttd_p95_ms = histogram_percentile(row.ttd_histogram, 0.95)
