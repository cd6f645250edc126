"""Provider webhooks. Each one authenticates the provider before it reads anything: a request that fails
the check gets 403 and changes nothing."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from commhub import channels, tenancy
from commhub.conf import knobs
from preferences.services import phone_normalize, sms_keyword, sms_opt_in, sms_opt_out

from .feedback import FeedbackEvent, parse_price, provider_event_apply

logger = logging.getLogger(__name__)


def twilio_signature_valid(request: HttpRequest) -> bool:
    """X-Twilio-Signature is an HMAC of the URL Twilio called and the POSTed fields. Behind a proxy the URL
    Django sees differs from the public one, so the public form (PUBLIC_BASE_URL) is accepted too."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    params = request.POST.dict()
    urls = {request.build_absolute_uri(), f"{settings.PUBLIC_BASE_URL}{request.get_full_path()}"}
    return any(validator.validate(url, params, signature) for url in urls)


def _twiml(text: str = "") -> HttpResponse:
    reply = MessagingResponse()
    if text:
        reply.message(text)
    return HttpResponse(str(reply), content_type="application/xml")


@csrf_exempt
@require_POST
@tenancy.every_organisation  # a STOP blocks the number in every organisation that knows it
def twilio_inbound_sms(request: HttpRequest) -> HttpResponse:
    """Inbound SMS: STOP-family keywords opt the number out (consent withdrawn, number suppressed), START and
    UNSTOP opt it back in, HELP gets the configured help text; any other text is only logged."""
    if not twilio_signature_valid(request):
        logger.warning("inbound SMS refused: missing or invalid X-Twilio-Signature")
        return HttpResponseForbidden("invalid signature")
    body = request.POST.get("Body", "")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    try:
        phone = phone_normalize(request.POST.get("From", ""))
    except ValidationError:
        phone = ""
    if not phone:
        return HttpResponseBadRequest("From is not a phone number")
    keyword = sms_keyword(body)
    if keyword == "stop":
        outcome = sms_opt_out(phone=phone, keyword=body.strip().upper(), reference=sid)
        logger.warning("inbound SMS %s: %s opted out (%d recipients)", sid, phone, len(outcome.recipients))
        return _twiml()  # the carrier / Twilio Advanced Opt-Out sends the confirmation text
    if keyword == "start":
        outcome = sms_opt_in(phone=phone, keyword=body.strip().upper(), reference=sid)
        logger.warning("inbound SMS %s: %s opted back in (%d recipients)", sid, phone, len(outcome.recipients))
        return _twiml()
    if keyword == "help":
        return _twiml(knobs().sms_help_reply)
    logger.info("inbound SMS %s from %s ignored (no keyword)", sid, phone)
    return _twiml()


@csrf_exempt
@require_POST
@tenancy.every_organisation  # the message id names the notification, whoever's it is
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback for a sent SMS: signature-validated (403 otherwise, nothing changes), recorded
    once per message and status, applied forward-only; a final price replaces the estimate."""
    if not twilio_signature_valid(request):
        logger.warning("status callback refused: missing or invalid X-Twilio-Signature")
        return HttpResponseForbidden("invalid signature")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    status = (request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or "").lower()
    if not sid or not status:
        return HttpResponseBadRequest("MessageSid and MessageStatus are required")
    provider_event_apply(
        FeedbackEvent(
            provider="twilio",
            event_id=f"{sid}:{status}",
            event_type=channels.get("sms").feedback.get(status, status),  # "sent" and earlier: progress, recorded
            channel="sms",
            provider_message_id=sid,
            address=request.POST.get("To", ""),
            description=request.POST.get("ErrorMessage", "")
            or (f"error {request.POST['ErrorCode']}" if request.POST.get("ErrorCode") else ""),
            error_code=request.POST.get("ErrorCode", ""),
            price=parse_price(request.POST.get("Price")),
            price_currency=request.POST.get("PriceUnit", ""),
            payload=request.POST.dict(),
        )
    )
    return HttpResponse(status=204)


@tenancy.every_organisation  # the message id or our metadata names the notification, whoever's it is
def anymail_tracking_received(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's normalized tracking event (its view has checked the ESP's signature and WEBHOOK_SECRET).
    Raising here makes anymail answer 400, so the ESP retries later."""
    metadata = event.metadata or {}
    provider_event_apply(
        FeedbackEvent(
            provider=esp_name.lower(),
            event_id=str(event.event_id or f"{event.message_id}:{event.event_type}:{event.timestamp}"),
            event_type=str(event.event_type),
            channel="email",
            notification_id=metadata.get("notification_id"),
            provider_message_id=event.message_id or "",
            address=(event.recipient or "").lower(),
            description=event.description or event.mta_response or "",
            occurred_at=event.timestamp,
            url=event.click_url or "",
            payload={"event_type": str(event.event_type), "reject_reason": str(event.reject_reason or "")},
        )
    )


def esp_webhook_urlpatterns() -> list:
    """anymail's webhook routes for the ESPs commhub sends through (EMAIL_PROVIDER and the fallbacks), and only
    those whose view is fully configured. The rest are not served: a forged event for an ESP nobody uses (its
    signature never checked) could otherwise suppress any address, and a view missing its signing key or its
    library (amazon_ses without boto3) would answer 500."""
    from anymail import urls as anymail_urls  # imports every ESP's webhook module: only when webhooks are served

    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return []
    esps = {settings.EMAIL_PROVIDER} | {path.split(".")[-2] for path in settings.EMAIL_FALLBACK_BACKENDS}
    served = []
    for pattern in anymail_urls.urlpatterns:
        route = str(pattern.pattern).lstrip("^")
        if route.split("/")[0] not in esps:
            continue
        view = pattern.callback
        try:
            view.view_class(**view.view_initkwargs)  # what the view checks on every request, checked once here
        except Exception as exc:  # AnymailImproperlyConfigured, ImportError: the route would only ever fail
            logger.warning("ESP webhook %s not served: %s", route, exc)
            continue
        served.append(pattern)
    return served
