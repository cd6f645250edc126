"""The periodic jobs, declared in code and kept as django-celery-beat rows staff can edit in the admin."""

from __future__ import annotations

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from commhub.conf import knobs
from commhub.queues import EVENTS_QUEUE, MAINTENANCE_QUEUE

# name -> (task, the knob that sets its interval); each runs on the maintenance queue, but those listed in QUEUE_OF
PERIODIC_TASKS = {
    "commhub: dispatch due notifications": ("notifications.dispatch_due", "dispatch_due_interval_seconds"),
    "commhub: sweep abandoned notifications": ("notifications.sweep", "sweep_interval_seconds"),
    "commhub: fold changes into rollups": ("analytics.rollups", "rollup_interval_seconds"),
    "commhub: recount open rollup days": ("analytics.rollups_recount", "rollup_recount_interval_seconds"),
    "commhub: sample queue depth": ("analytics.sample_queues", "queue_sample_interval_seconds"),
    "commhub: purge old samples and captures": ("analytics.retention_purge", "retention_purge_interval_seconds"),
    "commhub: deliver lifecycle events": ("hooks.events_deliver", "events_deliver_interval_seconds"),
    "commhub: publish lifecycle events to Kafka": ("hooks.kafka_publish", "events_deliver_interval_seconds"),
    "commhub: remind callers and callees": ("calls.remind", "calls_interval_seconds"),
    "commhub: notice missed calls": ("calls.mark_missed", "calls_interval_seconds"),
    "commhub: send digests whose window closed": ("triggers.digests_flush", "digest_interval_seconds"),
    "commhub: fan out running broadcasts": ("broadcasts.advance", "broadcast_interval_seconds"),
}


QUEUE_OF = {"hooks.events_deliver": EVENTS_QUEUE, "hooks.kafka_publish": EVENTS_QUEUE}


def periodic_tasks_install() -> int:
    """Create the periodic tasks that are missing. Existing rows (and staff edits to them) are left alone."""
    created = 0
    with transaction.atomic():
        for name, (task, interval_knob) in PERIODIC_TASKS.items():
            if PeriodicTask.objects.filter(name=name).exists():
                continue
            every = getattr(knobs(), interval_knob)
            interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.create(
                name=name,
                task=task,
                interval=interval,
                queue=QUEUE_OF.get(task, MAINTENANCE_QUEUE),
                description="Created by commhub; edit the interval or disable it here, it will not be overwritten.",
            )
            created += 1
        if created:
            PeriodicTasks.update_changed()
    return created
