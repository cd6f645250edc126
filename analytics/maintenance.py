"""Periodic upkeep for analytics: queue-depth samples and the retention purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessFailureLog, AccessLog
from django.db.models import Count, Q
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from commhub.conf import knobs
from commhub.queues import delivery_queues
from hooks.privacy import events_expire
from inbox.events import events_purge
from notifications.constants import Status
from notifications.models import CapturedMessage, Notification, RateLimitState
from notifications.retention import notifications_purge

from .models import QueueDepthSample

# not final yet: few rows (an index on status finds them), counted live where final ones come from the rollups
UNFINISHED = [Status.SCHEDULED, Status.PENDING, Status.QUEUED, Status.SENDING, Status.UNKNOWN]


def unfinished(*, now: datetime) -> list[dict]:
    """The rows not final yet per queue x status x channel x type, and how many of them are due: one scan feeds
    both the queue depths and /metrics' live statuses."""
    return list(
        Notification.objects.filter(status__in=UNFINISHED)
        .values("queue", "status", "channel", "notification_type_id")
        .annotate(n=Count("pk"), due=Count("pk", filter=Q(send_at__lte=now)))
    )


def queue_depths(*, now: datetime, rows: list[dict] | None = None) -> dict[str, dict[str, int]]:
    """Per queue: rows ready now, rows waiting for a time (scheduled, retry backoff), rows being sent."""
    depths = {q: {"ready": 0, "waiting": 0, "sending": 0} for q in delivery_queues()}
    for r in unfinished(now=now) if rows is None else rows:
        depth = depths.setdefault(r["queue"], {"ready": 0, "waiting": 0, "sending": 0})
        if r["status"] == Status.QUEUED:
            depth["ready"] += r["due"]
            depth["waiting"] += r["n"] - r["due"]
        elif r["status"] in (Status.SCHEDULED, Status.PENDING):
            depth["waiting"] += r["n"]
        elif r["status"] == Status.SENDING:
            depth["sending"] += r["n"]
    return depths


def queue_depths_sample(*, now: datetime) -> int:
    samples = [QueueDepthSample(at=now, queue=q, **d) for q, d in queue_depths(now=now).items()]
    QueueDepthSample.objects.bulk_create(samples)
    return len(samples)


LOGIN_RECORD_DAYS = 90  # django-axes' logs of logins and failed logins (lockouts themselves are AccessAttempts)


@dataclass
class PurgeResult:
    samples: int = 0
    captured: int = 0
    rate_buckets: int = 0
    expired_tokens: int = 0
    login_records: int = 0
    notifications_purged: int = 0
    inbox_events: int = 0
    lifecycle_events: int = 0


def retention_purge(*, now: datetime) -> PurgeResult:
    """Drop what is only worth keeping for a while: queue samples, captured (embedded-mode) messages, idle
    rate-limit buckets (API throttles' included), refresh tokens past their expiry (outstanding and
    blacklisted: an expired token is refused anyway) and login records older than LOGIN_RECORD_DAYS.
    And the words and personal data of finished notifications past their type's retention (notifications.
    retention: the rows stay), the inbox streams' event log after COMMHUB_INBOX_EVENT_RETENTION_DAYS, and
    delivered lifecycle events after WEBHOOK_EVENT_RETENTION_DAYS.
    The ledgers, the consent ledger and the audit trail are never purged."""
    keep = knobs()
    result = PurgeResult()
    result.samples, _ = QueueDepthSample.objects.filter(
        at__lt=now - timedelta(days=keep.sample_retention_days)
    ).delete()
    result.captured, _ = CapturedMessage.objects.filter(
        created_at__lt=now - timedelta(days=keep.capture_retention_days)
    ).delete()
    result.rate_buckets, _ = RateLimitState.objects.filter(tat__lt=now.timestamp() - 3600).delete()
    result.expired_tokens, _ = OutstandingToken._default_manager.filter(expires_at__lt=now).delete()
    logins_before = now - timedelta(days=LOGIN_RECORD_DAYS)
    result.login_records = (
        AccessLog.objects.filter(attempt_time__lt=logins_before).delete()[0]
        + AccessFailureLog.objects.filter(attempt_time__lt=logins_before).delete()[0]
    )
    result.notifications_purged = notifications_purge(now=now).notifications
    result.inbox_events = events_purge(before=now - timedelta(days=keep.inbox_event_retention_days))
    result.lifecycle_events = events_expire(now=now)
    return result
