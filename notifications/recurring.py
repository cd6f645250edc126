"""Recurring sends: staff schedule a type for an audience in the admin; beat runs it.

Saving a RecurringSend creates or updates its django-celery-beat PeriodicTask (a crontab in the send's zone,
or an interval), so staff see and can pause it beside the maintenance jobs; disabling the send disables the
task, deleting it deletes the task. Each run inserts a RecurringRun for its slot first: a second beat
process firing the same occurrence finds the slot taken and does nothing.

"Local time" sends run hourly. Each run takes the hour starting at its slot and, per timezone among the
audience, finds the occurrence of the crontab's hour:minute on a matching local day that falls in that
hour; those recipients get the notification scheduled for that exact instant (a row with `send_at`, sent by
the due dispatcher). So a weekly check-in at Monday 09:00 reaches Kolkata at 03:30 UTC and New York at 13:00
or 14:00 UTC depending on daylight saving, each exactly once.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from commhub.errors import InvalidInput
from commhub.queues import MAINTENANCE_QUEUE
from preferences.models import Recipient

from .constants import Status
from .models import RecurringRun, RecurringSend
from .services import SubmitRequest, notifications_submit_batch

logger = logging.getLogger(__name__)

RUN_TASK = "notifications.run_recurring"
CHUNK = 500


def _ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text or "") if part]


def _cron(recurring: RecurringSend) -> crontab:
    return crontab(
        minute=recurring.minute,
        hour=recurring.hour,
        day_of_week=recurring.day_of_week,
        day_of_month=recurring.day_of_month,
        month_of_year=recurring.month_of_year,
    )


def recurring_validate(recurring: RecurringSend) -> None:
    """Field-level errors for what the model cannot check on its own (crontab syntax, zones, audiences)."""
    errors: dict[str, list[str]] = {}
    if not recurring.every_seconds:
        for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"):
            try:
                crontab(**{name: getattr(recurring, name)})
            except (ValueError, TypeError) as exc:
                errors.setdefault(name, []).append(f"Not a crontab field: {exc}")
    try:
        ZoneInfo(recurring.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = [f"Unknown timezone {recurring.timezone!r}."]
    if recurring.local_time:
        if recurring.every_seconds:
            errors["local_time"] = ["Local time needs a crontab hour and minute, not an interval."]
        elif not (recurring.minute.isdigit() and recurring.hour.isdigit()):
            errors["local_time"] = ["Local time needs one hour and one minute (e.g. hour 9, minute 0)."]
    if recurring.audience == RecurringSend.Audience.LIST and not _ids(recurring.recipient_ids):
        errors["recipient_ids"] = ["Name at least one recipient."]
    if recurring.audience == RecurringSend.Audience.FILTER and not (
        isinstance(recurring.attribute_filter, dict) and recurring.attribute_filter
    ):
        errors["attribute_filter"] = ['An object of attribute values, e.g. {"plan": "pro"}.']
    channel = recurring.channel or recurring.notification_type.default_channel
    if not recurring.notification_type.allows(channel):
        errors["channel"] = [f"{recurring.notification_type.key} may not use {channel}."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def recurring_save(recurring: RecurringSend) -> RecurringSend:
    """Save the recurring send and make its beat schedule match it (created, updated, paused)."""
    recurring_validate(recurring)
    recurring.save()
    schedule: dict = {"interval": None, "crontab": None}
    if recurring.every_seconds:
        schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
            every=recurring.every_seconds, period=IntervalSchedule.SECONDS
        )
    elif recurring.local_time:  # hourly; each run picks the recipients whose local time falls in its hour
        schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
            minute="0", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
    else:
        schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
            minute=recurring.minute,
            hour=recurring.hour,
            day_of_week=recurring.day_of_week,
            day_of_month=recurring.day_of_month,
            month_of_year=recurring.month_of_year,
            timezone=recurring.timezone,
        )
    fields = {
        "name": f"recurring #{recurring.pk}: {recurring.name}"[:200],
        "task": RUN_TASK,
        "args": json.dumps([recurring.pk]),
        "queue": MAINTENANCE_QUEUE,
        "enabled": recurring.enabled,
        "description": f"Runs the recurring send '{recurring.name}' ({recurring.schedule_text}). Edit it there.",
        **schedule,
    }
    task = recurring.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(**fields)
        RecurringSend.objects.filter(pk=recurring.pk).update(periodic_task=task)
        recurring.periodic_task = task
    else:
        for name, value in fields.items():
            setattr(task, name, value)
        task.save()
    PeriodicTasks.update_changed()
    return recurring


@transaction.atomic
def recurring_delete(recurring: RecurringSend) -> None:
    task = recurring.periodic_task
    recurring.delete()
    if task is not None:
        task.delete()
        PeriodicTasks.update_changed()


def _slot(recurring: RecurringSend, now: datetime) -> datetime:
    """The occurrence a run at `now` is for: the minute (crontab), the hour (local time), the interval bucket."""
    if recurring.every_seconds:
        epoch = int(now.timestamp()) // recurring.every_seconds * recurring.every_seconds
        return datetime.fromtimestamp(epoch, tz=UTC)
    if recurring.local_time:
        return now.replace(minute=0, second=0, microsecond=0)
    return now.replace(second=0, microsecond=0)


def _audience(recurring: RecurringSend):
    recipients = Recipient.objects.filter(erased_at__isnull=True)
    if recurring.audience == RecurringSend.Audience.FILTER:
        recipients = recipients.filter(
            **{f"attributes__{key}": value for key, value in recurring.attribute_filter.items()}
        )
    elif recurring.audience == RecurringSend.Audience.LIST:
        recipients = recipients.filter(external_id__in=_ids(recurring.recipient_ids))
    return recipients


def _local_occurrence(recurring: RecurringSend, zone: ZoneInfo, start: datetime, end: datetime) -> datetime | None:
    """The crontab's hour:minute on a matching local day in `zone` that falls in [start, end), in UTC."""
    cron = _cron(recurring)
    hour, minute = int(recurring.hour), int(recurring.minute)
    days: set[date] = {start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()}
    for day in sorted(days):
        if day.isoweekday() % 7 not in cron.day_of_week:
            continue
        if day.day not in cron.day_of_month or day.month not in cron.month_of_year:
            continue
        local = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # a wall time skipped by daylight saving (02:30 on spring-forward day) is sent at the shifted instant
        instant = local.astimezone(UTC)
        if start <= instant < end:
            return instant
    return None


def _targets(recurring: RecurringSend, slot: datetime) -> list[tuple[list[str], datetime | None]]:
    """(external ids, send_at or None for now), in groups."""
    recipients = _audience(recurring).values_list("external_id", "timezone")
    if not recurring.local_time:
        return [([external_id for external_id, _ in recipients.iterator()], None)]
    by_zone: dict[str, list[str]] = defaultdict(list)
    for external_id, zone in recipients.iterator():
        by_zone[zone or recurring.timezone].append(external_id)
    groups: list[tuple[list[str], datetime | None]] = []
    for zone_name, ids in by_zone.items():
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(recurring.timezone)
        instant = _local_occurrence(recurring, zone, slot, slot + timedelta(hours=1))
        if instant is not None:
            groups.append((ids, instant))
    return groups


def recurring_run(recurring_id: int, *, now: datetime | None = None) -> RecurringRun | None:
    """Run one occurrence of a recurring send. None when it is disabled, gone, or this slot already ran."""
    now = now or timezone.now()
    recurring = RecurringSend.objects.select_related("notification_type").filter(pk=recurring_id).first()
    if recurring is None or not recurring.enabled:
        return None
    try:
        with transaction.atomic():
            run = RecurringRun.objects.create(recurring=recurring, slot=_slot(recurring, now), started_at=now)
    except IntegrityError:
        logger.info("recurring send %s: slot already ran (a second beat?)", recurring_id)
        return None
    problems: list[str] = []
    for ids, send_at in _targets(recurring, run.slot):
        for i in range(0, len(ids), CHUNK):
            requests = [
                SubmitRequest(
                    recipient=external_id,
                    type=recurring.notification_type.key,
                    data=recurring.data,
                    channel=recurring.channel or None,
                    send_at=send_at,
                )
                for external_id in ids[i : i + CHUNK]
            ]
            try:
                results = notifications_submit_batch(requests)
            except InvalidInput as exc:
                run.errors += len(requests)
                problems.append(str(exc))
                continue
            for r in results:
                if not r.ok:
                    run.errors += 1
                    if len(problems) < 5:
                        problems.append(f"{r.request.recipient}: {r.errors}")
                elif r.notification is not None and r.notification.status == Status.SUPPRESSED:
                    run.refused += 1
                else:
                    run.created += 1
    run.finished_at = timezone.now()
    run.detail = "\n".join(problems)[:5000]
    run.save(update_fields=["created", "refused", "errors", "finished_at", "detail"])
    logger.info(
        "recurring send %s (%s): %d created, %d refused, %d invalid",
        recurring.pk,
        recurring.name,
        run.created,
        run.refused,
        run.errors,
    )
    return run
