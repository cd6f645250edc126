"""The periodic jobs, declared in code and kept as django-celery-beat rows staff can edit in the admin."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from .constants import MAINTENANCE_QUEUE

# name -> (task, interval setting)
PERIODIC_TASKS = {
    "commhub: dispatch due notifications": ("notifications.dispatch_due", "DISPATCH_DUE_INTERVAL_SECONDS"),
    "commhub: sweep abandoned notifications": ("notifications.sweep", "SWEEP_INTERVAL_SECONDS"),
    "commhub: rebuild recent rollups": ("analytics.rollups", "ROLLUP_INTERVAL_SECONDS"),
    "commhub: sample queue depth": ("analytics.sample_queues", "QUEUE_SAMPLE_INTERVAL_SECONDS"),
    "commhub: purge old samples and captures": ("analytics.retention_purge", "RETENTION_PURGE_INTERVAL_SECONDS"),
}


def periodic_tasks_install() -> int:
    """Create the periodic tasks that are missing. Existing rows (and staff edits to them) are left alone."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    created = 0
    with transaction.atomic():
        for name, (task, interval_setting) in PERIODIC_TASKS.items():
            if PeriodicTask.objects.filter(name=name).exists():
                continue
            every = settings.COMMHUB[interval_setting]
            interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.create(
                name=name,
                task=task,
                interval=interval,
                queue=MAINTENANCE_QUEUE,
                description="Created by commhub; edit the interval or disable it here, it will not be overwritten.",
            )
            created += 1
        if created:
            PeriodicTasks.update_changed()
    return created
