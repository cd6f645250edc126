"""Channels, tiers, queue names and statuses.

Kept free of model imports: commhub/celery.py reads the queue names while Django is still starting.
"""

from __future__ import annotations

from django.db import models

from preferences.constants import PreferencePolicy  # noqa: F401 (re-exported: types carry a policy)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Tier(models.TextChoices):
    """Queue tiers, most urgent first. A worker drains them in this order."""

    CRITICAL = "critical", "Critical"
    DAILY = "daily", "Daily"
    REPORTS = "reports", "Reports"
    EDUCATION = "education", "Education"


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"


class CapAction(models.TextChoices):
    DEFER = "defer", "Defer until the cap allows it"
    SKIP = "skip", "Skip (suppress) it"


MAINTENANCE_QUEUE = "maintenance"


def queue_name(channel: str, tier: str) -> str:
    """`sms_critical`, `email_education`, ... one queue per channel x tier."""
    return f"{channel}_{tier}"


# Consumption order for a worker that serves every queue: maintenance first (tiny periodic jobs that must
# not starve behind a backlog), then tiers most urgent first, SMS before email within a tier.
ALL_QUEUES: list[str] = [MAINTENANCE_QUEUE] + [
    queue_name(channel, tier) for tier in Tier.values for channel in (Channel.SMS, Channel.EMAIL)
]
DELIVERY_QUEUES: list[str] = ALL_QUEUES[1:]


# Seed-contract priority names <-> numeric priority (1 is most urgent, as in the catalogue).
PRIORITY_BY_NAME = {"critical": 1, "high": 2, "medium": 5, "normal": 5, "low": 7}


def priority_name(priority: int) -> str:
    if priority <= 1:
        return "critical"
    if priority <= 3:
        return "high"
    if priority <= 5:
        return "medium"
    return "low"


class Status(models.TextChoices):
    """The notification state machine (see TRANSITIONS and the README's diagram)."""

    SCHEDULED = "scheduled", "Scheduled"  # send_at in the future; the beat dispatcher queues it when due
    PENDING = "pending", "Pending retry"  # a transient failure; waits for its backoff to elapse
    QUEUED = "queued", "Queued"  # ready; a wake-up is on (or on its way to) the broker
    SENDING = "sending", "Sending"  # claimed by a worker holding a lease
    UNKNOWN = "unknown", "Unknown"  # the provider timed out after the request went out: it may have the message
    SENT = "sent", "Sent"  # the provider accepted it
    DELIVERED = "delivered", "Delivered"  # the provider confirmed delivery
    FAILED = "failed", "Failed"  # permanent error or retries exhausted (dead letter; staff can retry)
    CANCELLED = "cancelled", "Cancelled"
    SUPPRESSED = "suppressed", "Suppressed"  # the decision engine refused it


TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCHEDULED: frozenset({Status.QUEUED, Status.CANCELLED, Status.SUPPRESSED}),
    Status.PENDING: frozenset({Status.QUEUED, Status.CANCELLED, Status.SUPPRESSED}),
    Status.QUEUED: frozenset({Status.SENDING, Status.CANCELLED, Status.SUPPRESSED}),
    Status.SENDING: frozenset(
        {Status.SENT, Status.PENDING, Status.FAILED, Status.QUEUED, Status.SUPPRESSED, Status.UNKNOWN}
    ),
    # settled by the provider's callback, or requeued once by the sweeper when none comes
    Status.UNKNOWN: frozenset({Status.SENT, Status.DELIVERED, Status.FAILED, Status.QUEUED}),
    Status.SENT: frozenset({Status.DELIVERED, Status.FAILED}),
    Status.DELIVERED: frozenset(),
    Status.FAILED: frozenset({Status.QUEUED}),
    Status.CANCELLED: frozenset(),
    Status.SUPPRESSED: frozenset(),
}

# Settled: no worker will touch the row again unless a person (retry) or a provider event moves it.
SETTLED_STATUSES = frozenset({Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELLED, Status.SUPPRESSED})


def sources_of(target: str) -> frozenset[str]:
    """Every status from which `target` may be entered."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


CANCELLABLE_STATUSES = sources_of(Status.CANCELLED)  # scheduled, pending, queued
