"""Celery tasks of the hooks app: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from .event_delivery import events_deliver as events_deliver_service
from .kafka_publish import lifecycle_publish
from .outbox import DELIVER_EVENTS_TASK, PUBLISH_EVENTS_TASK


@shared_task(name=DELIVER_EVENTS_TASK, ignore_result=True)
def events_deliver() -> int:
    """Deliver the lifecycle events that are due (after a commit that wrote some, at a retry's time, and from beat)."""
    return events_deliver_service()


@shared_task(name=PUBLISH_EVENTS_TASK, ignore_result=True)
def kafka_publish() -> int:
    """Publish pending lifecycle events to KAFKA_LIFECYCLE_TOPIC (after a commit that wrote some, and from beat)."""
    return lifecycle_publish()
