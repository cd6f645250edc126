"""The Celery app: queues, ordering and the worker settings the delivery guarantees depend on.

Queues are one per channel x tier (`sms_critical`, `email_education`, ...) plus `maintenance` for the
beat-driven dispatcher and sweeper, and `events` for lifecycle-event delivery. Every task names its queue when
it is sent; there is no catch-all routing table to drift out of date.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

from commhub.memory import WORKER_YOUNG, settle_collector
from commhub.queues import configured_queues

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commhub.settings")

app = Celery("commhub")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _declare_queues(sender: Celery, **kwargs: object) -> None:
    """Declared once the configuration is read (the channels' names are settings), not at import."""
    sender.conf.task_queues = [Queue(name, routing_key=name) for name in configured_queues()]


@worker_process_init.connect
def _settle_collector(**kwargs: object) -> None:
    """A worker process starts with everything loaded: out of the collector's scans (commhub.memory)."""
    settle_collector(young=WORKER_YOUNG)


app.autodiscover_tasks()
