"""The SMS channel: addressed by the recipient's E.164 phone, one text part, priced per segment (GSM-7 / UCS-2)
and by destination, quiet hours apply (TCPA); sent through the Twilio client, one provider per sender number
(failover and pacing across them), or captured in the embedded mode."""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from commhub.channels import SEGMENT, ChannelSpec, register
from commhub.conf import knobs
from preferences.services import phone_normalize
from templates_app.segments import GSM7_BASIC, GSM7_EXTENSION, sms_segments, sms_shape

from .base import DeliveryError, OutboundMessage, PermanentError, Provider, SendResult, TransientError
from .capture import CaptureSmsProvider
from .failover import FailoverProvider
from .http import LeanSession, environment_has_proxies, tune_session

# Twilio error codes that will fail the same way every time.
# https://www.twilio.com/docs/api/errors
PERMANENT_TWILIO_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' number cannot be reached
        21217,  # phone number does not appear to be valid
        21408,  # permission to send to this region not enabled
        21610,  # recipient replied STOP (unsubscribed)
        21612,  # 'To' number not reachable via this channel
        21614,  # 'To' number is not a valid mobile number
        21602,  # message body is required
        21617,  # message body too long
        21659,  # 'From' is not a Twilio number
        20003,  # authentication failed
        20404,  # resource not found
    }
)
TRANSIENT_TWILIO_CODES = frozenset({20429, 20500, 20503, 30001})


def rebased(url: str, base_url: str) -> str:
    """`url` sent to another scheme://host[:port] (a local fake, or a proxy): Twilio's own `edge`/`region` options
    only rewrite *.twilio.com names. An empty base leaves it as it is."""
    if not base_url:
        return url
    base, parts = urlsplit(base_url), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


class BaseUrlHttpClient(TwilioHttpClient):
    """The real Twilio HTTP client, sending to another scheme://host[:port] (`rebased`)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        return super().request(method, rebased(url, self._base_url), *args, **kwargs)


class LeanTwilioHttpClient(HttpClient):
    """Twilio's HTTP client interface (the documented `http_client=` of its Client) on the lean urllib3 session
    (http.py): the request TwilioHttpClient would send, without `requests`' session layer; network errors are the
    `requests` exceptions `classify` reads (a read timeout: maybe sent). `base_url` sends to another
    scheme://host[:port] (a local fake, or a proxy)."""

    def __init__(self, *, timeout: float | None, base_url: str = "") -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=False, timeout=timeout)
        self.session = LeanSession({})
        self._base_url = base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        url = rebased(url, self._base_url)
        body: Any = data
        if headers and headers.get("Content-Type") in ("application/json", "application/scim+json"):
            body = json.dumps(data)
        answer = self.session.request(
            method.upper(), url, params=params, data=body, headers=headers, auth=auth, timeout=timeout
        )
        return Response(int(answer.status_code), answer.text, answer.headers)


def twilio_client() -> Client:
    http_client: HttpClient
    if knobs().lean_http and not environment_has_proxies():
        http_client = LeanTwilioHttpClient(
            timeout=settings.TWILIO_TIMEOUT_SECONDS, base_url=settings.TWILIO_API_BASE_URL
        )
    elif settings.TWILIO_API_BASE_URL:
        http_client = BaseUrlHttpClient(settings.TWILIO_API_BASE_URL, timeout=settings.TWILIO_TIMEOUT_SECONDS)
    else:
        http_client = TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)
    if isinstance(http_client, TwilioHttpClient):
        tune_session(http_client.session)
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)


class TwilioSmsProvider(Provider):
    name = "twilio"
    channel = "sms"

    def __init__(self, client: Client | None = None, from_: str | None = None) -> None:
        self.client = client or twilio_client()
        # a phone number, or a Messaging Service SID (Twilio then picks the number from the service's pool)
        self.from_ = from_ or settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER

    @property
    def sender(self) -> str:
        return f"twilio:{self.from_}"

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {"to": message.to, "body": message.body}
        if settings.TWILIO_STATUS_CALLBACKS:
            payload["status_callback"] = f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status"
        if self.from_.startswith("MG"):
            payload["messaging_service_sid"] = self.from_
        else:
            payload["from_"] = self.from_
        return payload

    def transport(self, payload: dict[str, Any]):
        return self.client.messages.create(**payload)

    def parse_result(self, response: Any, payload: dict[str, Any], message: OutboundMessage) -> SendResult:
        segments = _int_or_none(response.num_segments) or message.units
        return SendResult(
            provider_message_id=response.sid,
            segments=segments,
            price=_price(response.price),
            currency=(response.price_unit or None),
            status=response.status or "",
        )

    def classify(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, TwilioRestException):
            code = exc.code
            label = f"twilio_{code or exc.status}"
            text = f"Twilio {exc.status} (code {code}): {exc.msg}"
            if code in TRANSIENT_TWILIO_CODES or exc.status == 429 or exc.status >= 500:
                return TransientError(text, code=label)
            if code in PERMANENT_TWILIO_CODES or 400 <= exc.status < 500:
                return PermanentError(text, code=label)
            return TransientError(text, code=label)
        if isinstance(exc, requests.exceptions.ReadTimeout):  # sent, no answer: Twilio may have it
            return TransientError(f"Twilio did not answer: {exc}", code="ReadTimeout", ambiguous=True)
        if isinstance(exc, requests.RequestException):
            return TransientError(f"Twilio unreachable: {exc}", code=type(exc).__name__)
        return super().classify(exc)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _price(value: Any) -> Decimal | None:
    """Twilio reports prices as negative strings ("-0.00750"); None until the message is billed."""
    if value in (None, ""):
        return None
    try:
        return abs(Decimal(str(value)))
    except InvalidOperation:
        return None


class SmsChannel(ChannelSpec):
    name = "sms"
    label = "SMS"
    address_label = "phone number"
    address_word = "phone"
    parts = ("text",)
    cost_unit = SEGMENT
    default_price = Decimal("0.0075")
    destination_prices = True
    quiet_hours = True  # TCPA: no marketing texts before 08:00 or after 21:00 local
    # Twilio's MessageStatus -> commhub's events ("queued", "sent" and the like are progress)
    feedback = {"delivered": "delivered", "read": "delivered", "undelivered": "undelivered", "failed": "failed"}

    def address_for(self, recipient: Any) -> str:
        return recipient.phone or ""

    def normalize_address(self, address: str) -> str:
        return phone_normalize(address.strip())

    def units(self, text: str) -> int:
        return sms_segments(text)

    def text_report(self, text: str) -> tuple[dict[str, Any] | None, list[str]]:
        """Encoding and segments, and a warning naming the characters that switch a text to UCS-2."""
        shape = sms_shape(text)
        segments = max(1, shape.segments)
        report = {"encoding": shape.encoding, "length": shape.units, "segments": segments}
        warnings = []
        if shape.encoding == "UCS-2":
            culprits = sorted({ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION})
            as_gsm = sms_shape("".join(ch for ch in text if ch in GSM7_BASIC or ch in GSM7_EXTENSION))
            if max(1, as_gsm.segments) < segments:
                warnings.append(
                    f"{' '.join(culprits[:5])} switch this SMS to UCS-2: {segments} segments instead of "
                    f"{max(1, as_gsm.segments)}, so it costs {segments / max(1, as_gsm.segments):g}x as "
                    "much."
                )
            else:
                warnings.append(f"{' '.join(culprits[:5])} switch this SMS to UCS-2 (70 characters per segment).")
        return report, warnings

    def providers(self) -> FailoverProvider:
        if settings.SMS_PROVIDER == "twilio":
            client = twilio_client()  # one HTTP session for every sender number of this thread
            senders = settings.TWILIO_SENDERS or [None]
            return FailoverProvider([TwilioSmsProvider(client, from_=sender) for sender in senders])
        return FailoverProvider([CaptureSmsProvider()])


SMS = register(SmsChannel())
