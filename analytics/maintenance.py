"""Periodic upkeep for analytics: queue-depth samples and the retention purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from commhub.conf import knobs
from commhub.queues import delivery_queues
from notifications.constants import Status
from notifications.models import CapturedMessage, Notification, RateLimitState

from .models import QueueDepthSample


def queue_depths(*, now: datetime) -> dict[str, dict[str, int]]:
    """Per queue: rows ready now, rows waiting for a time (scheduled, retry backoff), rows being sent."""
    rows = (
        Notification.objects.filter(status__in=[Status.QUEUED, Status.SCHEDULED, Status.PENDING, Status.SENDING])
        .values("queue")
        .annotate(
            ready=Count("pk", filter=Q(status=Status.QUEUED, send_at__lte=now)),
            waiting=Count(
                "pk", filter=Q(status__in=[Status.SCHEDULED, Status.PENDING]) | Q(status=Status.QUEUED, send_at__gt=now)
            ),
            sending=Count("pk", filter=Q(status=Status.SENDING)),
        )
    )
    depths = {q: {"ready": 0, "waiting": 0, "sending": 0} for q in delivery_queues()}
    for r in rows:
        depths[r["queue"]] = {"ready": r["ready"], "waiting": r["waiting"], "sending": r["sending"]}
    return depths


def queue_depths_sample(*, now: datetime) -> int:
    samples = [QueueDepthSample(at=now, queue=q, **d) for q, d in queue_depths(now=now).items()]
    QueueDepthSample.objects.bulk_create(samples)
    return len(samples)


@dataclass
class PurgeResult:
    samples: int = 0
    captured: int = 0
    rate_buckets: int = 0


def retention_purge(*, now: datetime) -> PurgeResult:
    """Drop what is only worth keeping for a while: queue samples, captured (embedded-mode) messages, idle
    rate-limit buckets. Notifications, the ledger and the consent ledger are never purged here."""
    keep = knobs()
    result = PurgeResult()
    result.samples, _ = QueueDepthSample.objects.filter(
        at__lt=now - timedelta(days=keep.sample_retention_days)
    ).delete()
    result.captured, _ = CapturedMessage.objects.filter(
        created_at__lt=now - timedelta(days=keep.capture_retention_days)
    ).delete()
    result.rate_buckets, _ = RateLimitState.objects.filter(tat__lt=now.timestamp() - 3600).delete()
    return result
