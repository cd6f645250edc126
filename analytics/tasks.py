"""Beat tasks for analytics: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .budgets import budgets_reconcile
from .maintenance import queue_depths_sample
from .maintenance import retention_purge as purge
from .rollups import rollups_fold, rollups_recount


@shared_task(name="analytics.rollups", ignore_result=True)
def rollups() -> dict:
    """Fold what changed into the rollups and correct budget spend to the ledger."""
    done = rollups_fold()
    return {
        "changed": done.changed if done else 0,
        "folded": done.folded if done else 0,
        "budgets_corrected": budgets_reconcile(now=timezone.now()),
    }


@shared_task(name="analytics.rollups_recount", ignore_result=True)
def rollups_recount_open() -> dict:
    """Recount the open days from the rows (the increments' proof: a difference is logged)."""
    return {"drifted": rollups_recount()}


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
