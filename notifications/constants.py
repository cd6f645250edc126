"""Purposes, cap actions, priorities and the notification state machine (kept free of model imports).

Channels are in commhub.channels, tiers and queue names in commhub.queues.
"""

from __future__ import annotations

from django.db import models

from preferences.constants import PreferencePolicy  # noqa: F401 (re-exported: types carry a policy)


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"


class CapAction(models.TextChoices):
    DEFER = "defer", "Defer until the cap allows it"
    SKIP = "skip", "Skip (suppress) it"


class DigestKind(models.TextChoices):
    """How a digest's window is drawn (a type's or a rule's)."""

    NONE = "", "No digest: a notification each"
    SLIDING = "sliding", "Sliding: the first item opens a window of digest_minutes"
    WEEKLY = "weekly", "Weekly: until the next digest_weekday at digest_time, recipient-local"


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
    EXPIRED = "expired", "Expired"  # not handed to a provider before its expiry (the type's time to live)
    DIGESTED = "digested", "Digested"  # its type digests: gathered into a window, sent within one digest notification


TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCHEDULED: frozenset({Status.QUEUED, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED}),
    Status.PENDING: frozenset({Status.QUEUED, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED}),
    Status.QUEUED: frozenset({Status.SENDING, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED}),
    # (scheduled: it waited past the recipient's send window, and is held until it opens again)
    Status.SENDING: frozenset(
        {
            Status.SENT,
            Status.PENDING,
            Status.FAILED,
            Status.QUEUED,
            Status.SUPPRESSED,
            Status.UNKNOWN,
            Status.SCHEDULED,
            Status.EXPIRED,
        }
    ),
    # settled by the provider's callback, or requeued once by the sweeper when none comes
    # (expired: its time to live ran out before the sweeper would send it again)
    Status.UNKNOWN: frozenset({Status.SENT, Status.DELIVERED, Status.FAILED, Status.QUEUED, Status.EXPIRED}),
    Status.SENT: frozenset({Status.DELIVERED, Status.FAILED}),
    Status.DELIVERED: frozenset(),
    Status.FAILED: frozenset({Status.QUEUED}),
    Status.CANCELLED: frozenset(),
    Status.SUPPRESSED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.DIGESTED: frozenset(),
}

# What a new row may start as: ready now, due later, refused by the decision engine (kept with its reason), or
# gathered for its type's digest.
INITIAL_STATUSES = frozenset({Status.QUEUED, Status.SCHEDULED, Status.SUPPRESSED, Status.DIGESTED})

# Settled: no worker will touch the row again unless a person (retry) or a provider event moves it.
SETTLED_STATUSES = frozenset(
    {Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED, Status.DIGESTED}
)


def sources_of(target: str) -> frozenset[str]:
    """Every status from which `target` may be entered."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


CANCELLABLE_STATUSES = sources_of(Status.CANCELLED)  # scheduled, pending, queued
