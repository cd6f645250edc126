"""Worker heartbeats: each Celery worker's main process writes a row every COMMHUB_HEARTBEAT_SECONDS from a
daemon thread, and removes it on a clean shutdown. A worker killed outright simply stops updating its row,
and /health calls the workers down once no row is fresher than COMMHUB_HEARTBEAT_STALE_SECONDS."""

from __future__ import annotations

import logging
import os
import threading

from django.db import close_old_connections, connection
from django.utils import timezone

from commhub.conf import knobs

from .models import WorkerHeartbeat

logger = logging.getLogger(__name__)

_stop = threading.Event()


def heartbeat_beat(name: str, queues: str) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(name=name).update(last_seen=now, pid=os.getpid(), queues=queues[:500])
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            name=name, defaults={"last_seen": now, "started_at": now, "pid": os.getpid(), "queues": queues[:500]}
        )


def heartbeat_start(name: str, queues: str) -> threading.Thread:
    def loop() -> None:
        while not _stop.is_set():
            try:
                close_old_connections()
                heartbeat_beat(name, queues)
            except Exception:  # the database is down: /health will say so; keep trying
                logger.warning("worker heartbeat not written", exc_info=True)
            _stop.wait(knobs().heartbeat_seconds)
        connection.close()

    _stop.clear()
    thread = threading.Thread(target=loop, name="commhub-heartbeat", daemon=True)
    thread.start()
    return thread


def heartbeat_stop(name: str) -> None:
    _stop.set()
    try:
        WorkerHeartbeat.objects.filter(name=name).delete()
    except Exception:
        logger.warning("worker heartbeat row not removed", exc_info=True)
