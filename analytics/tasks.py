"""Beat tasks for analytics: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .budgets import budgets_reconcile
from .maintenance import queue_depths_sample
from .maintenance import retention_purge as purge
from .rollups import rollups_build


@shared_task(name="analytics.rollups", ignore_result=True)
def rollups() -> dict:
    """Rebuild the recent days' rollups and correct budget spend to the ledger."""
    return {"days": rollups_build(), "budgets_corrected": budgets_reconcile(now=timezone.now())}


@shared_task(name="analytics.sample_queues", ignore_result=True)
def sample_queues() -> int:
    return queue_depths_sample(now=timezone.now())


@shared_task(name="analytics.retention_purge", ignore_result=True)
def retention_purge() -> dict:
    result = purge(now=timezone.now())
    return {
        "samples": result.samples,
        "captured": result.captured,
        "rate_buckets": result.rate_buckets,
        "notifications_purged": result.notifications_purged,
        "inbox_events": result.inbox_events,
        "lifecycle_events": result.lifecycle_events,
    }
