"""Beat tasks for events and rules: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .digests import digests_flush


@shared_task(name="triggers.digests_flush", ignore_result=True)
def flush_digests() -> int:
    """Send the digests whose window has closed (each once, however many beats run)."""
    return digests_flush(now=timezone.now())
