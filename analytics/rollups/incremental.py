"""The incremental pass: fold the notifications that changed since the watermark, then move it.

What changes a notification's counts leaves a trace with a timestamp and an index: a status move stamps
`updated_at`, a provider event (open, click, bounce) has its `created_at`, a provider's bill stamps its cost
entry's `updated_at`. The pass reads those from the watermark less COMMHUB_ROLLUP_OVERLAP (a row stamped before
the watermark may commit after it), folds them (idempotent: marks), and drops the marks of days that closed.
Its cost follows the changes, not the table.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from analytics.models import RollupMark, RollupWatermark
from commhub.conf import knobs
from commhub.tenancy import everything
from costs.models import CostEntry
from notifications.models import Notification, ProviderEvent

from .contributions import EVENT_COLUMNS, STATUS_BITS
from .fold import Fold
from .rebuild import day_recount, open_from, watermark_locked

CHUNK = 2000


@dataclass(frozen=True)
class Pass:
    changed: int  # notifications looked at
    folded: int  # of which counted differently than before
    seconds: float
    rebuilt_days: int = 0


def changed_since(since: datetime, *, marked_or_from: date) -> set:
    start = datetime.combine(marked_or_from, datetime.min.time(), tzinfo=UTC)
    ids = set(Notification.objects.filter(updated_at__gte=since, created_at__gte=start).values_list("pk", flat=True))
    ids.update(
        ProviderEvent.objects.filter(created_at__gte=since, event_type__in=EVENT_COLUMNS).values_list(
            "notification_id", flat=True
        )
    )
    ids.update(CostEntry.objects.filter(updated_at__gte=since).values_list("notification_id", flat=True))
    # closed days' notifications not final yet (a far-future send, a long retry) are still followed
    older = RollupMark.objects.filter(day__lt=marked_or_from).values_list("notification_id", flat=True)
    ids.update(Notification.objects.filter(pk__in=older, updated_at__gte=since).values_list("pk", flat=True))
    return ids


def rollups_fold(*, now: datetime | None = None, wait: bool = True) -> Pass | None:
    """One incremental pass. With wait=False, returns None at once when another pass holds the watermark."""
    began = clock.perf_counter()
    now = now or timezone.now()
    first_open = open_from(now)
    with everything(), transaction.atomic():
        locked = watermark_locked(wait=wait)
        if locked is None:
            return None
        if locked.through is None:  # the first pass: count the open days from the rows
            day = first_open
            while day <= now.astimezone(UTC).date():
                day_recount(day, open_from=first_open)
                day += timedelta(days=1)
            rebuilt, changed, folded = (now.astimezone(UTC).date() - first_open).days + 1, 0, 0
        else:
            since = locked.through - timedelta(seconds=knobs().rollup_overlap_seconds)
            ids = list(changed_since(since, marked_or_from=first_open))
            fold = Fold(open_from=first_open)
            for i in range(0, len(ids), CHUNK):
                fold.ids(ids[i : i + CHUNK])
            fold.apply()
            rebuilt, changed, folded = 0, len(ids), fold.folded
        # closed days keep only the marks of notifications not final yet
        RollupMark.objects.alias(final=F("flags").bitand(STATUS_BITS)).filter(day__lt=first_open, final__gt=0).delete()
        passed = timezone.now()
        RollupWatermark.objects.filter(pk=1).update(  # never a watermark in the future (a test's `now`)
            through=min(now, passed), passed_at=passed, folded=locked.folded + folded
        )
    return Pass(changed=changed, folded=folded, seconds=clock.perf_counter() - began, rebuilt_days=rebuilt)
