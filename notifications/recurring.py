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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import ParseException, crontab
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from audit.services import audit_record
from commhub import tenancy
from commhub.conf import knobs
from commhub.errors import InvalidInput
from commhub.queues import MAINTENANCE_QUEUE
from preferences.models import Recipient
from preferences.selectors import recipients_for_audiences
from templates_app.models import TemplateVersion
from templates_app.variables import data_problems

from .constants import Status
from .models import RecurringRun, RecurringSend
from .services import SubmitRequest, notifications_submit_batch

logger = logging.getLogger(__name__)

RUN_TASK = "notifications.run_recurring"
CHUNK = 500
LATE_AFTER = timedelta(minutes=15)  # a run that starts this long after its slot is flagged late
MAX_CATCH_UP_HOURS = 48  # how far back missed hourly slots are looked for (made up, or recorded as missed)


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


def recurring_validate(recurring: RecurringSend, *, now: datetime | None = None) -> None:
    """Field-level errors for a definition that could never work: crontab syntax, a schedule with no date (30
    February), an unknown zone, an empty or unknown audience, a channel the type may not use, data the type's
    templates need and do not get."""
    errors: dict[str, list[str]] = {}
    if not recurring.every_seconds:
        for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"):
            try:
                crontab(**{name: getattr(recurring, name)})
            except (ValueError, TypeError, ParseException) as exc:  # ParseException: "-1", not a ValueError
                errors.setdefault(name, []).append(f"Not a crontab field: {exc}")
    try:
        ZoneInfo(recurring.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = [f"Unknown timezone {recurring.timezone!r}."]
    if not errors and not recurring.every_seconds and not recurring_next_runs(recurring, now=now, count=1):
        weekday = "" if recurring.day_of_week == "*" else f" on weekday {recurring.day_of_week}"
        errors["day_of_month"] = [
            f"This schedule never runs: no date in the next {_HORIZON_YEARS} years is day {recurring.day_of_month} "
            f"of month {recurring.month_of_year}{weekday}."
        ]
    if recurring.local_time:
        if recurring.every_seconds:
            errors["local_time"] = ["Local time needs a crontab hour and minute, not an interval."]
        elif not (recurring.minute.isdigit() and recurring.hour.isdigit()):
            errors["local_time"] = ["Local time needs one hour and one minute (e.g. hour 9, minute 0)."]
    if recurring.audience == RecurringSend.Audience.LIST:
        named = _ids(recurring.recipient_ids)
        known = set(
            Recipient.objects.filter(
                organisation_id=recurring.organisation_id or tenancy.DEFAULT_ORGANISATION_ID, external_id__in=named
            ).values_list("external_id", flat=True)
        )
        unknown = [external_id for external_id in named if external_id not in known]
        if not named:
            errors["recipient_ids"] = ["Name at least one recipient."]
        elif unknown:
            errors["recipient_ids"] = [f"Unknown recipients: {', '.join(unknown[:10])}. Create them first."]
    if recurring.audience == RecurringSend.Audience.FILTER and not (
        isinstance(recurring.attribute_filter, dict) and recurring.attribute_filter
    ):
        errors["attribute_filter"] = ['An object of attribute values, e.g. {"plan": "pro"}.']
    channel = recurring.channel or recurring.notification_type.default_channel
    if not recurring.notification_type.allows(channel):
        errors["channel"] = [f"{recurring.notification_type.key} may not use {channel}."]
    elif not isinstance(recurring.data, dict):
        errors["data"] = ["The template data must be a JSON object."]
    else:
        errors.update(_data_problems(recurring, channel))
    if errors:
        raise ValidationError(errors)


def _data_problems(recurring: RecurringSend, channel: str) -> dict[str, list[str]]:
    """What the type's live templates on `channel` (every locale) need that the data does not give."""
    ntype = recurring.notification_type
    problems: list[str] = []
    versions = TemplateVersion.objects.filter(
        template__notification_type=ntype, template__channel=channel, template__published_version=F("pk")
    ).select_related("template")
    if not versions:
        return {"notification_type": [f"{ntype.key} has no published {channel} template."]}
    for version in versions:
        for name, why in data_problems(version, recurring.data).items():
            problems.append(f"{name}: {' '.join(why)} ({channel} template, {version.template.locale})")
    return {"data": sorted(set(problems))} if problems else {}


_HORIZON_YEARS = 5


def recurring_next_runs(recurring: RecurringSend, *, now: datetime | None = None, count: int = 3) -> list[datetime]:
    """The next `count` occurrences after `now` (UTC), in the send's timezone's wall clock (a local-time send runs
    at that wall time in each recipient's own zone; these are its occurrences in the send's zone). An interval
    runs every N seconds from its last slot."""
    now = now or timezone.now()
    if recurring.every_seconds:
        try:
            first = _slot(recurring, now) + timedelta(seconds=recurring.every_seconds)
            return [first + timedelta(seconds=recurring.every_seconds * i) for i in range(count)]
        except (OverflowError, ValueError):  # an interval past the calendar (the form refuses it): never
            return []
    try:
        cron, zone = _cron(recurring), ZoneInfo(recurring.timezone)
    except (ValueError, TypeError, ParseException, ZoneInfoNotFoundError):
        return []
    found: list[datetime] = []
    day = now.astimezone(zone).date()
    for _ in range(366 * _HORIZON_YEARS):
        if (
            day.isoweekday() % 7 in cron.day_of_week
            and day.day in cron.day_of_month
            and day.month in cron.month_of_year
        ):
            for hour in sorted(cron.hour):
                for minute in sorted(cron.minute):
                    instant = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
                    if instant > now:
                        found.append(instant)
                        if len(found) == count:
                            return found
        day += timedelta(days=1)
    return found


def recurring_audience_size(recurring: RecurringSend) -> int:
    return _audience(recurring).count()


@transaction.atomic
def recurring_save(recurring: RecurringSend) -> RecurringSend:
    """Save the recurring send and make its beat schedule match it (created, updated, paused)."""
    recurring_validate(recurring)
    created = recurring.pk is None
    recurring.save()
    audit_record(
        action="recurring.create" if created else "recurring.save",
        obj=recurring,
        after={"enabled": recurring.enabled, "schedule": recurring.schedule_text, "audience": recurring.audience},
    )
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
    """Who a run sends to. "All recipients" leaves out commhub's own (staff mailboxes, staff test recipients)."""
    recipients = recipients_for_audiences().filter(
        organisation_id=recurring.organisation_id or tenancy.DEFAULT_ORGANISATION_ID
    )
    if recurring.audience == RecurringSend.Audience.FILTER:
        recipients = recipients.filter(
            **{f"attributes__{key}": value for key, value in recurring.attribute_filter.items()}
        )
    elif recurring.audience == RecurringSend.Audience.LIST:
        recipients = recipients.filter(external_id__in=_ids(recurring.recipient_ids))
    return recipients


def _day_matches(cron: crontab, day: date) -> bool:
    """The crontab's weekday (0 = Sunday), day of month and month all match `day`."""
    return day.isoweekday() % 7 in cron.day_of_week and day.day in cron.day_of_month and day.month in cron.month_of_year


def _local_occurrence(recurring: RecurringSend, zone: ZoneInfo, start: datetime, end: datetime) -> datetime | None:
    """The crontab's hour:minute on a matching local day in `zone` that falls in [start, end), in UTC."""
    cron = _cron(recurring)
    hour, minute = int(recurring.hour), int(recurring.minute)
    days: set[date] = {start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()}
    for day in sorted(days):
        if not _day_matches(cron, day):
            continue
        local = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # a wall time skipped by daylight saving (02:30 on spring-forward day) is sent at the shifted instant
        instant = local.astimezone(UTC)
        if start <= instant < end:
            return instant
    return None


def _targets(recurring: RecurringSend, slot: datetime) -> tuple[list[tuple[list[str], datetime | None]], str]:
    """(external ids, send_at or None for now), in groups; and, for a local-time send, which zones this run
    covers and when the others are due."""
    recipients = _audience(recurring).values_list("external_id", "timezone")
    if not recurring.local_time:
        return [([external_id for external_id, _ in recipients.iterator()], None)], ""
    by_zone: dict[str, list[str]] = defaultdict(list)
    for external_id, zone in recipients.iterator():
        by_zone[zone or recurring.timezone].append(external_id)
    groups: list[tuple[list[str], datetime | None]] = []
    due, later = [], []
    for zone_name, ids in sorted(by_zone.items()):
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(recurring.timezone)
        instant = _local_occurrence(recurring, zone, slot, slot + timedelta(hours=1))
        if instant is not None:
            groups.append((ids, instant))
            due.append(f"{zone_name} ({len(ids)}) at {instant:%H:%M} UTC")
        else:
            next_local = _next_local_occurrence(recurring, zone, slot + timedelta(hours=1))
            when = f"{next_local:%Y-%m-%d %H:%M} UTC" if next_local else "never"
            later.append(f"{zone_name} ({len(ids)}) {when}")
    summary = f"Due in the hour from {slot:%Y-%m-%d %H:%M} UTC: {', '.join(due) or 'no timezone'}."
    if later:
        summary += f" The others run at {recurring.hour}:{int(recurring.minute):02d} their time: {'; '.join(later)}."
    return groups, summary


def _next_local_occurrence(recurring: RecurringSend, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first local-time occurrence in `zone` from `after` on, within a year (an hour at a time)."""
    for hours in range(24 * 366):
        start = after + timedelta(hours=hours)
        instant = _local_occurrence(recurring, zone, start, start + timedelta(hours=1))
        if instant is not None:
            return instant
    return None


def _readable(errors: object) -> str:
    """A submit's field errors as one line: `data.amount: This variable is required by the template.`"""
    if isinstance(errors, dict):
        return "; ".join(f"{field}: {_readable(problem)}" for field, problem in errors.items())
    if isinstance(errors, (list, tuple)):
        return " ".join(_readable(problem) for problem in errors)
    return str(errors)


def recurring_run(recurring_id: int, *, now: datetime | None = None) -> RecurringRun | None:
    """Run one occurrence of a recurring send. None when it is disabled, gone, or this slot already ran. It acts
    in the recurring send's organisation: its recipients, templates and budgets."""
    now = now or timezone.now()
    recurring = RecurringSend.objects.select_related("notification_type").filter(pk=recurring_id).first()
    if recurring is None or not recurring.enabled:
        return None
    with tenancy.within(recurring.organisation_id or tenancy.DEFAULT_ORGANISATION_ID):
        return _run(recurring, now)


def _claim(recurring: RecurringSend, slot: datetime, now: datetime, **fields: Any) -> RecurringRun | None:
    """The run of `slot`, or None when another beat (or an earlier call) already has it."""
    try:
        with transaction.atomic():
            return RecurringRun.objects.create(recurring=recurring, slot=slot, started_at=now, **fields)
    except IntegrityError:
        logger.info("recurring send %s: slot %s already ran (a second beat?)", recurring.pk, slot)
        return None


def _missed_slots(recurring: RecurringSend, slot: datetime) -> list[datetime]:
    """The hourly slots of a local-time send before `slot` that never ran: after its last run and after it was last
    saved (a paused or edited send does not make up the hours it was paused), within two days."""
    if not recurring.local_time:
        return []
    last = (
        RecurringRun.objects.filter(recurring=recurring, slot__lt=slot)
        .order_by("-slot")
        .values_list("slot", flat=True)
        .first()
    )
    if last is None:
        return []
    start = max(last + timedelta(hours=1), slot - timedelta(hours=MAX_CATCH_UP_HOURS))
    saved = recurring.updated_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = max(start, saved)
    return [start + timedelta(hours=h) for h in range(int((slot - start) / timedelta(hours=1)))]


def _run(recurring: RecurringSend, now: datetime) -> RecurringRun | None:
    slot = _slot(recurring, now)
    run = _claim(recurring, slot, now, late=now - slot > LATE_AFTER)
    if run is None:
        return None  # another beat has this slot, and the catch-up that goes with it
    grace = timedelta(hours=knobs().recurring_grace_hours)
    for missed in _missed_slots(recurring, slot):
        if now - missed <= grace:
            if (made_up := _claim(recurring, missed, now, late=True)) is not None:
                _send(recurring, made_up)
        else:
            detail = f"Missed: nothing ran for this hour (beat down?) and it is older than the {grace} catch-up grace."
            _claim(recurring, missed, now, missed=True, finished_at=now, detail=detail)
    return _send(recurring, run)


def _send(recurring: RecurringSend, run: RecurringRun) -> RecurringRun:
    problems: list[str] = []
    groups, zones_summary = _targets(recurring, run.slot)
    for ids, send_at in groups:
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
                problems.append(_readable(exc.errors))
                continue
            for r in results:
                if not r.ok:
                    run.errors += 1
                    if len(problems) < 5:
                        problems.append(f"{r.request.recipient}: {_readable(r.errors)}")
                elif r.notification is not None and r.notification.status == Status.SUPPRESSED:
                    run.refused += 1
                else:
                    run.created += 1
    run.finished_at = timezone.now()
    run.detail = "\n".join([*([zones_summary] if zones_summary else []), *problems])[:5000]
    run.save(update_fields=["created", "refused", "errors", "finished_at", "detail"])
    logger.info(
        "recurring send %s (%s) slot %s%s: %d created, %d refused, %d invalid",
        recurring.pk,
        recurring.name,
        run.slot,
        " (late)" if run.late else "",
        run.created,
        run.refused,
        run.errors,
    )
    return run
