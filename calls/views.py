"""Twilio's status callback for a dialled call (click-to-call)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from commhub import tenancy
from notifications.webhooks import twilio_signature_valid

from .dial import call_status_record

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
@tenancy.every_organisation  # the call sid names the call, whoever's it is
def twilio_call_status(request: HttpRequest) -> HttpResponse:
    """Signature-checked (403 otherwise, nothing changes); 204 whether or not the call is ours (Twilio would retry)."""
    if not twilio_signature_valid(request):
        logger.warning("call status callback refused: missing or invalid X-Twilio-Signature")
        return HttpResponseForbidden("invalid signature")
    sid, status = request.POST.get("CallSid", ""), request.POST.get("CallStatus", "")
    if not sid or not status:
        return HttpResponseBadRequest("CallSid and CallStatus are required")
    if not call_status_record(sid=sid, status=status, duration=request.POST.get("CallDuration", "")):
        logger.info("call status for %s, which commhub did not place: ignored", sid)
    return HttpResponse(status=204)
