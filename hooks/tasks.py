"""Celery tasks of the hooks app: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from .event_delivery import events_deliver as events_deliver_service
from .outbox import DELIVER_EVENTS_TASK


@shared_task(name=DELIVER_EVENTS_TASK, ignore_result=True)
def events_deliver() -> int:
    """Deliver the lifecycle events that are due (after a commit that wrote some, at a retry's time, and from beat)."""
    return events_deliver_service()
