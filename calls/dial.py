"""Click-to-call through Twilio's Calls API: Twilio rings the caller's phone (the recipient `staff:<username>`)
and, when they answer, dials the callee and bridges the two (TwiML <Dial>). Twilio reports the call's progress to
/webhooks/twilio/call-status (signed like every Twilio callback): answered, how long it lasted."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from commhub.errors import Conflict, InvalidInput
from notifications.channels.sms import twilio_client
from notifications.test_sends import staff_test_recipient

from .models import Call

logger = logging.getLogger(__name__)

CALL_STATUS_PATH = "/webhooks/twilio/call-status"
# Twilio's call statuses, in the order a call goes through them (a late callback never moves one back)
PROGRESS = ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "canceled", "failed"]


class DialFailed(Exception):
    """Twilio could not be reached, or failed (a refusal of the numbers themselves is InvalidInput)."""


def call_dial(*, call: Call, user) -> Call:
    """Ring `user`'s phone and bridge it to the callee. Raises InvalidInput (no phone on either side), Conflict (the
    call's outcome is recorded) or DialFailed (Twilio's answer)."""
    if call.state == Call.State.DONE:
        raise Conflict("This call's outcome is already recorded.")
    caller_phone = staff_test_recipient(user).phone
    errors = {}
    if not caller_phone:
        errors["caller"] = [f"Set a phone on recipient staff:{user.get_username()} to be called first."]
    if not call.phone:
        errors["callee"] = ["The callee has no phone."]
    if errors:
        raise InvalidInput(errors)
    twiml = VoiceResponse()
    twiml.dial(call.phone, caller_id=settings.TWILIO_FROM_NUMBER)
    try:
        placed = twilio_client().calls.create(
            to=caller_phone,
            from_=settings.TWILIO_FROM_NUMBER,
            twiml=str(twiml),
            status_callback=f"{settings.PUBLIC_BASE_URL}{CALL_STATUS_PATH}",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            status_callback_method="POST",
        )
    except TwilioRestException as exc:
        if exc.status < 500 and exc.status != 429:  # the numbers, the account: not worth trying again as is
            raise InvalidInput({"callee_phone": [f"Twilio refused the call: {exc.msg} (code {exc.code})."]}) from None
        raise DialFailed(f"Twilio failed: {exc.msg} (code {exc.code})") from None
    except (TwilioException, RequestException) as exc:
        raise DialFailed(f"Twilio could not be reached: {exc}") from None
    Call.objects.filter(pk=call.pk).update(dial_sid=placed.sid, dial_status=placed.status or "queued")
    call.dial_sid, call.dial_status = placed.sid, placed.status or "queued"
    logger.info("call %s: dialling (%s)", call.pk, placed.sid)
    return call


def call_status_record(*, sid: str, status: str, duration: str = "", at: datetime | None = None) -> bool:
    """Twilio's report on a dialled call: its status (forward only), when it was answered, how long it lasted.
    Returns False for a call commhub did not place."""
    calls = Call.objects.filter(dial_sid=sid)
    call = calls.first()
    if call is None:
        return False
    status = status.lower()
    if status in PROGRESS and (
        call.dial_status not in PROGRESS or PROGRESS.index(status) > PROGRESS.index(call.dial_status)
    ):
        fields: dict = {"dial_status": status}
        if status == "in-progress" and call.dial_answered_at is None:
            fields["dial_answered_at"] = at or timezone.now()
        if status == "completed" and duration.isdigit():
            fields["dial_seconds"] = int(duration)
        calls.filter(dial_status=call.dial_status).update(**fields)
    return True
