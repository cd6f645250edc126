"""Retention: a finished notification's words and personal data are purged once it is older than its type's
retention (NotificationType.retention_days, else COMMHUB_RETENTION_DAYS; 0 or blank: kept).

Purging keeps the row as a skeleton (type, channel, status, timestamps, cost) so counts, rollups, the cost
ledger and budgets still add up, and blanks what identifies the person or says what was sent: the address,
the template data, the rendered parts, error texts, the reasons in the decision trace (the checks and their
outcomes stay), provider event payloads and addresses; captured copies are deleted, and other apps add their own
steps (`purge_step`: the inbox deletes the in-app items). The consent ledger and suppressions are not touched.
Rows still on their way (scheduled, pending, queued, sending, unknown) are never purged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, QuerySet

from commhub.conf import knobs

from .constants import Status
from .models import CapturedMessage, DeliveryAttempt, Notification, NotificationType, ProviderEvent
from .privacy import PERSONAL_BLANKED
from .trace import trace_blanked

FINISHED = [
    Status.SENT,
    Status.DELIVERED,
    Status.FAILED,
    Status.CANCELLED,
    Status.SUPPRESSED,
    Status.EXPIRED,
    Status.DIGESTED,
]
CHUNK = 1000
PurgeStep = Callable[[list], dict[str, int]]  # notification ids -> counts of what the step removed
_steps: list[PurgeStep] = []


def purge_step(fn: PurgeStep) -> PurgeStep:
    """Register `fn(notification_ids)`, run in the same transaction as each chunk's purge."""
    _steps.append(fn)
    return fn


@dataclass
class PurgeResult:
    notifications: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)


def retention_of(ntype: NotificationType) -> int:
    return ntype.retention_days if ntype.retention_days is not None else knobs().retention_days


def purgeable(*, now: datetime, older_than: timedelta | None = None, types: list[str] | None = None) -> QuerySet:
    """The finished, not yet purged notifications past retention: `older_than` for every type when given, else
    each type's own retention (types kept forever are left out)."""
    rows = Notification.objects.none()
    for ntype in NotificationType.objects.filter(**({"key__in": types} if types else {})):
        days = older_than if older_than is not None else timedelta(days=retention_of(ntype))
        if not days:
            continue
        rows = rows | Notification.objects.filter(notification_type=ntype, created_at__lt=now - days)
    return rows.filter(status__in=FINISHED, purged_at__isnull=True)


def purge_counts(rows: QuerySet) -> dict[str, int]:
    """How many would be purged, by type key (a dry run)."""
    counted = rows.values("notification_type__key").annotate(n=Count("pk")).order_by("notification_type__key")
    return {row["notification_type__key"]: row["n"] for row in counted}


def _chunks(rows: QuerySet) -> Iterator[list]:
    while True:
        ids = list(rows.order_by().values_list("pk", flat=True)[:CHUNK])
        if not ids:
            return
        yield ids


def _purge_chunk(ids: list, now: datetime, result: PurgeResult) -> None:
    with transaction.atomic():
        rows = list(Notification.objects.filter(pk__in=ids).only("pk", "decision_trace").select_for_update())
        for n in rows:
            n.decision_trace = trace_blanked(n.decision_trace, "(purged)")
        Notification.objects.bulk_update(rows, ["decision_trace"])  # one statement for the chunk
        Notification.objects.filter(pk__in=ids).update(**PERSONAL_BLANKED, purged_at=now, updated_at=now)
        DeliveryAttempt.objects.filter(notification_id__in=ids).update(error_message="")
        ProviderEvent.objects.filter(notification_id__in=ids).update(payload={}, address="", description="")
        captured, _ = CapturedMessage.objects.filter(notification_id__in=ids).delete()
        result.removed["captured_messages"] = result.removed.get("captured_messages", 0) + captured
        for step in _steps:
            for name, count in step(ids).items():
                result.removed[name] = result.removed.get(name, 0) + count
    result.notifications += len(ids)


def notifications_purge(
    *, now: datetime, older_than: timedelta | None = None, types: list[str] | None = None, progress=None
) -> PurgeResult:
    """Purge what retention allows, a chunk per transaction; `progress(result)` after each chunk."""
    result = PurgeResult(by_type=purge_counts(purgeable(now=now, older_than=older_than, types=types)))
    for ids in _chunks(purgeable(now=now, older_than=older_than, types=types)):
        _purge_chunk(ids, now, result)
        if progress is not None:
            progress(result)
    return result
