"""Queue names: one per channel x tier (`sms_critical`, `email_education`, ...) plus `maintenance`.

Kept free of app imports: commhub/celery.py declares the queues while Django is still starting, from the
configured channels' names (commhub.channels.configured_names).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from commhub import channels


class Tier(models.TextChoices):
    """Queue tiers, most urgent first. A worker drains them in this order."""

    CRITICAL = "critical", "Critical"
    DAILY = "daily", "Daily"
    REPORTS = "reports", "Reports"
    EDUCATION = "education", "Education"


MAINTENANCE_QUEUE = "maintenance"
# lifecycle-event delivery: HTTP to product backends, passes of up to a minute; kept apart from the tiny
# maintenance jobs and after every delivery queue, so a slow receiver never holds back a send
EVENTS_QUEUE = "events"


def queue_name(channel: str, tier: str) -> str:
    """`sms_critical`, `email_education`, ... one queue per channel x tier."""
    return f"{channel}_{tier}"


def delivery_queues(channel_names: Iterable[str] | None = None) -> list[str]:
    """Every delivery queue in the order a worker that serves them all drains them: tiers most urgent first,
    and within a tier the channels in their configured order (SMS before email)."""
    names = list(channels.in_queue_order() if channel_names is None else channel_names)
    return [queue_name(channel, tier) for tier in Tier.values for channel in names]


def configured_queues() -> list[str]:
    """The queues a worker consumes: maintenance first (tiny periodic jobs that must not starve behind a
    backlog), then the configured channels' delivery queues, then lifecycle-event delivery."""
    return [MAINTENANCE_QUEUE, *delivery_queues(channels.configured_names()), EVENTS_QUEUE]
