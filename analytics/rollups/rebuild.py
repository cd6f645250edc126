"""Recounting a day from its rows: empty its rollups, recipient costs and marks, then fold every notification
submitted that day. What the first incremental pass does for the open days, what the nightly job does to prove
the increments right, and what `manage.py rollups --from ... --to ...` does for any range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from analytics.models import DailyRollup, RecipientDailyCost, RollupMark, RollupWatermark
from commhub.conf import knobs
from commhub.tenancy import everything
from notifications.models import Notification

from .fold import ROLLUP_FIELDS, Fold, key_of

logger = logging.getLogger(__name__)

CHUNK = 2000


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def open_from(now: datetime) -> date:
    """The first open day: the last COMMHUB_ROLLUP_DAYS days (UTC) still change."""
    return now.astimezone(UTC).date() - timedelta(days=max(1, knobs().rollup_days) - 1)


def watermark_locked(*, wait: bool = True) -> RollupWatermark | None:
    """The watermark row, locked for the caller's transaction: one pass or recount at a time. None: another
    holds it and `wait` is False."""
    RollupWatermark.objects.get_or_create(pk=1)
    return RollupWatermark.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


def day_recount(day: date, *, open_from: date) -> tuple[int, int]:
    """Recount one day (inside the caller's transaction). Returns (groups, recipients)."""
    start, end = day_bounds(day)
    DailyRollup.objects.filter(day=day).delete()
    RecipientDailyCost.objects.filter(day=day).delete()
    RollupMark.objects.filter(day=day).delete()
    fold = Fold(open_from=open_from, recount=True)
    ids = list(Notification.objects.filter(created_at__gte=start, created_at__lt=end).values_list("pk", flat=True))
    for i in range(0, len(ids), CHUNK):
        fold.ids(ids[i : i + CHUNK])
    fold.apply()
    return DailyRollup.objects.filter(day=day).count(), RecipientDailyCost.objects.filter(day=day).count()


def rollups_build(
    *, start: date | None = None, end: date | None = None, progress: Callable[[date, int, int], None] | None = None
) -> int:
    """Recount every day from `start` to `end` (inclusive; default: the open days, the last COMMHUB_ROLLUP_DAYS
    up to today). Holds the incremental pass's lock while it works. Returns the number of days recounted."""
    now = timezone.now()
    end = end or now.astimezone(UTC).date()
    first_open = open_from(now)
    start = start or first_open
    day, built = start, 0
    while day <= end:
        with everything(), transaction.atomic():
            watermark_locked()
            groups, recipients = day_recount(day, open_from=first_open)
        if progress:
            progress(day, groups, recipients)
        day += timedelta(days=1)
        built += 1
    return built


def _snapshot(start: date) -> dict:
    with everything():
        return {
            key_of(r): tuple(getattr(r, f) for f in ROLLUP_FIELDS) for r in DailyRollup.objects.filter(day__gte=start)
        }


def rollups_recount() -> int:
    """Recount the open days and compare with what the increments had built: the number of groups that
    differed (each logged; zero is the proof the incremental pass is exact)."""
    now = timezone.now()
    first_open = open_from(now)
    before = _snapshot(first_open)
    rollups_build(start=first_open, end=now.astimezone(UTC).date())
    after = _snapshot(first_open)
    drifted = sorted((key for key in set(before) | set(after) if before.get(key) != after.get(key)), key=str)
    for key in drifted[:20]:
        logger.warning("rollup %s drifted: increments %s, recount %s", key, before.get(key), after.get(key))
    return len(drifted)
