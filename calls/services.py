"""Scheduling calls, reminding before them, recording how they went, noticing the missed ones, dialling them.

Reminders go through commhub's own pipeline: to the caller (`call_reminder`, to the recipient `staff:<username>`:
their user's email, the phone staff set on that recipient) at each of CALL_REMINDER_MINUTES before the call, and,
when the call asks for it, to the callee (`call_reminder_callee`: the callee's consent, preferences and quiet
hours decide, like any message to them; one that quiet hours would hold past the call is cancelled instead) at
CALL_CALLEE_REMINDER_MINUTES. A reminder row is written before its notification, under a unique constraint, so
two beats send one; when beat was down only the latest due offset is sent (the earlier ones are recorded as
skipped). Recording an outcome ends the reminders. A call without an outcome CALL_MISSED_AFTER_MINUTES after its
slot is missed, once, and the caller's organisation's staff are told.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from commhub.errors import Conflict, InvalidInput
from notifications.constants import Status
from notifications.services import SubmitRequest, notification_cancel, notification_submit
from notifications.staff_alerts import staff_alert_send
from notifications.test_sends import staff_test_recipient
from preferences.models import Recipient
from preferences.quiet_hours import zone
from preferences.services import phone_normalize

from .models import Call, CallReminder, Outcome

logger = logging.getLogger(__name__)


def phone_or_error(value: str) -> str:
    """The callee's phone in E.164, or InvalidInput naming `callee_phone`."""
    try:
        return phone_normalize(value)
    except ValidationError as exc:
        raise InvalidInput({"callee_phone": exc.messages}) from None


def call_check(
    *, caller: Any, callee: Recipient | None, callee_phone: str, scheduled_at: datetime, remind_callee: bool
) -> None:
    """Raise InvalidInput naming each field that makes this call impossible."""
    errors: dict[str, list[str]] = {}
    try:
        phone = phone_or_error(callee_phone) if callee_phone else ""
    except InvalidInput as exc:
        errors |= exc.errors
        phone = "?"
    if callee is None and not phone:
        errors["callee"] = ["Name a recipient, or give the contact's phone."]
    if scheduled_at < timezone.now() - timedelta(minutes=1):
        errors["scheduled_at"] = ["That time has passed."]
    if not getattr(caller, "is_staff", False):
        errors["caller"] = ["The caller must be a staff user."]
    if remind_callee and callee is None:
        errors["remind_callee"] = ["Only a recipient commhub knows can be reminded (consent and quiet hours)."]
    if errors:
        raise InvalidInput(errors)


def call_schedule(
    *,
    caller: Any,
    scheduled_at: datetime,
    reason: str,
    callee: Recipient | None = None,
    callee_name: str = "",
    callee_phone: str = "",
    duration_minutes: int = 30,
    notes: str = "",
    remind_callee: bool = False,
    created_by: str = "",
) -> Call:
    """A new call for `caller` (a staff user) to a recipient or a free-form contact with a phone."""
    call_check(
        caller=caller, callee=callee, callee_phone=callee_phone, scheduled_at=scheduled_at, remind_callee=remind_callee
    )
    return Call.objects.create(
        caller=caller,
        callee=callee,
        callee_name=callee_name,
        callee_phone=phone_or_error(callee_phone) if callee_phone else "",
        reason=reason,
        scheduled_at=scheduled_at,
        duration_minutes=duration_minutes,
        notes=notes,
        remind_callee=remind_callee,
        created_by=created_by,
    )


def call_outcome_record(
    *, call: Call, outcome: str, notes: str = "", new_time: datetime | None = None, actor: Any = None
) -> Call:
    """How the call went. Ends its reminders; `rescheduled` (with `new_time`) makes a new call at that time."""
    now = timezone.now()
    if outcome not in Outcome.values:
        raise InvalidInput({"outcome": [f"One of: {', '.join(Outcome.values)}."]})
    if outcome == Outcome.RESCHEDULED and (new_time is None or new_time <= now):
        raise InvalidInput({"new_time": ["A rescheduled call needs its new time, in the future."]})
    by = getattr(actor, "get_username", lambda: str(actor or "system"))()
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call.pk)
        if call.state == Call.State.DONE:
            raise Conflict(f"This call's outcome is already recorded ({call.get_outcome_display()}).")
        if outcome == Outcome.RESCHEDULED:
            assert new_time is not None
            copied = {name: getattr(call, name) for name in Call.SCHEDULING if name != "scheduled_at"}
            call.rescheduled_to = Call.objects.create(
                organisation_id=call.organisation_id, scheduled_at=new_time, created_by=by, **copied
            )
        call.state, call.outcome, call.outcome_notes = Call.State.DONE, outcome, notes
        call.outcome_at, call.outcome_by = now, by
        call.save(update_fields=["state", "outcome", "outcome_notes", "outcome_at", "outcome_by", "rescheduled_to"])
    return call


# --- reminders ------------------------------------------------------------------------------------------


def _offsets(whom: str) -> list[int]:
    raw = settings.CALL_REMINDER_MINUTES if whom == CallReminder.Whom.CALLER else settings.CALL_CALLEE_REMINDER_MINUTES
    return sorted({int(m) for m in raw if int(m) > 0}, reverse=True)


def _local(at: datetime, tz_name: str) -> str:
    where = zone(tz_name) or timezone.get_default_timezone()  # an unknown zone: the server's
    local = at.astimezone(where)
    return f"{local:%H:%M} ({where.key}) on {local:%a} {local.day} {local:%b}"


def calls_remind(*, now: datetime | None = None) -> int:
    """Send the reminders that are due (beat runs this every minute). Returns how many were sent."""
    now = now or timezone.now()
    horizon = max([*_offsets(CallReminder.Whom.CALLER), *_offsets(CallReminder.Whom.CALLEE), 0])
    due = Call.objects.filter(
        state=Call.State.SCHEDULED, scheduled_at__gt=now, scheduled_at__lte=now + timedelta(minutes=horizon)
    ).select_related("caller", "callee")
    sent = 0
    for call in due:
        whoms = [CallReminder.Whom.CALLER] + ([CallReminder.Whom.CALLEE] if call.remind_callee else [])
        for whom in whoms:
            offsets = [m for m in _offsets(whom) if call.scheduled_at - timedelta(minutes=m) <= now]
            if offsets:  # the latest due one; earlier ones beat missed are recorded as skipped
                sent += _remind(call, whom, offsets[-1], skipped=offsets[:-1], now=now)
    return sent


def _claim(call: Call, whom: str, minutes: int, said: str = "") -> CallReminder | None:
    try:
        with transaction.atomic():
            return CallReminder.objects.create(
                organisation_id=call.organisation_id, call=call, whom=whom, minutes_before=minutes, said=said
            )
    except IntegrityError:  # another beat (or an earlier run) has it
        return None


def _remind(call: Call, whom: str, minutes: int, *, skipped: list[int], now: datetime) -> int:
    for earlier in skipped:
        _claim(call, whom, earlier, said="skipped: a later reminder was due by the time it ran")
    reminder = _claim(call, whom, minutes)
    if reminder is None:
        return 0
    try:
        notification = _reminder_submit(call, whom, now=now)
    except InvalidInput as exc:
        reminder.said = f"not sent: {exc.errors}"[:300]
        reminder.save(update_fields=["said"])
        logger.warning("call %s: %s reminder not sent: %s", call.pk, whom, exc.errors)
        return 0
    reminder.notification = notification
    reminder.said = notification.status
    if notification.status == Status.SCHEDULED and notification.send_at >= call.scheduled_at:
        # quiet hours (or a cap) would hold it until after the call: worse than none
        notification_cancel(notification_id=notification.pk, actor="calls")
        reminder.said = f"not sent: held until {notification.send_at:%H:%M} UTC, after the call"
    reminder.save(update_fields=["notification", "said"])
    return 1


def _reminder_submit(call: Call, whom: str, *, now: datetime):
    minutes = max(1, round((call.scheduled_at - now).total_seconds() / 60))
    if whom == CallReminder.Whom.CALLER:
        person = staff_test_recipient(call.caller)
        data = {
            "callee": call.callee_label,
            "phone": call.phone,
            "reason": call.reason,
            "notes": call.notes[:500],
            "minutes": minutes,
            "starts_at": _local(call.scheduled_at, person.timezone),
        }
        return notification_submit(SubmitRequest(recipient=person.external_id, type="call_reminder", data=data))
    assert call.callee is not None
    data = {"reason": call.reason, "starts_at": _local(call.scheduled_at, call.callee.timezone)}
    return notification_submit(SubmitRequest(recipient=call.callee.external_id, type="call_reminder_callee", data=data))


# --- missed calls -----------------------------------------------------------------------------------------


def calls_mark_missed(*, now: datetime | None = None) -> int:
    """Calls with no outcome CALL_MISSED_AFTER_MINUTES after their slot: missed, once; their staff are told."""
    now = now or timezone.now()
    late = now - timedelta(minutes=settings.CALL_MISSED_AFTER_MINUTES)
    missed = 0
    for call in Call.objects.filter(state=Call.State.SCHEDULED, scheduled_at__lt=late).select_related("caller"):
        if call.ends_at >= late:
            continue
        if Call.objects.filter(pk=call.pk, state=Call.State.SCHEDULED).update(
            state=Call.State.MISSED, missed_alerted_at=now
        ):
            missed += 1
            staff_alert_send(
                organisation_id=call.organisation_id,
                subject=f"Missed call: {call.caller.get_username()} to {call.callee_label}",
                message=f"{call.caller.get_username()} had a call with {call.callee_label} at "
                f"{call.scheduled_at:%Y-%m-%d %H:%M} UTC ({call.reason}) and no outcome was recorded. "
                "Record one in the admin (Calls) or reschedule it.",
                about=f"call {call.pk}",
            )
    return missed
