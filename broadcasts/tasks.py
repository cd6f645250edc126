"""Beat and fan-out tasks for broadcasts: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from .models import Broadcast
from .services import broadcast_dry_run, broadcasts_advance


@shared_task(name="broadcasts.advance", ignore_result=True)
def advance() -> int:
    """Fan out the running broadcasts (started, resumed, or left half-way by a worker that died)."""
    return broadcasts_advance()


@shared_task(name="broadcasts.dry_run", ignore_result=True)
def dry_run(broadcast_id: int) -> None:
    broadcast = Broadcast.objects.select_related("notification_type").filter(pk=broadcast_id).first()
    if broadcast is not None:
        broadcast_dry_run(broadcast=broadcast)
