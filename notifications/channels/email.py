"""The email channel: addressed by the recipient's email, a subject and text and HTML parts, priced per message,
no quiet hours; sent through any Django email backend (an anymail ESP in production, capture in the embedded
mode), with failover to further ESPs. Marketing mail carries one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from typing import Any

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.utils.html import escape

from commhub.channels import MESSAGE, ChannelSpec, register
from preferences.constants import MARKETING
from preferences.unsubscribe import list_unsubscribe_headers, unsubscribe_token, unsubscribe_url
from templates_app.rendering import RenderedMessage

from .base import DeliveryError, OutboundMessage, PermanentError, Provider, SendResult, TransientError
from .failover import FailoverProvider
from .http import tune_session


def _timed_out(exc: BaseException | None) -> bool:
    """A read timeout: the request went out and no answer came back (the ESP may have sent it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _provider_name(backend_path: str) -> str:
    if backend_path.startswith("anymail.backends."):
        return backend_path.split(".")[2]  # anymail.backends.mailgun.EmailBackend -> mailgun
    if backend_path.endswith("CaptureEmailBackend"):
        return "capture"
    return backend_path.rsplit(".", 2)[-2]  # django.core.mail.backends.smtp.EmailBackend -> smtp


class EmailProvider(Provider):
    channel = "email"

    def __init__(self, backend: str | None = None, from_email: str | None = None) -> None:
        self.backend_path = backend or settings.EMAIL_BACKEND
        self.name = _provider_name(self.backend_path)
        self.from_email = from_email or settings.DEFAULT_FROM_EMAIL
        self.connection = get_connection(self.backend_path)

    def open(self) -> None:
        # anymail keeps its requests session (and the ESP's keep-alive connection) until close()
        self.connection.open()
        tune_session(getattr(self.connection, "session", None))

    def close(self) -> None:
        self.connection.close()

    def build_payload(self, message: OutboundMessage) -> EmailMultiAlternatives:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=self.from_email,
            to=[message.to],
            headers={"X-Commhub-Notification": message.notification_id, **message.headers},
            connection=self.connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        if self.name in ("smtp", "capture", "console"):
            # ESPs assign their own id; for the rest our Message-ID is the provider message id.
            email.extra_headers.setdefault("Message-ID", make_msgid(domain="commhub.local"))
        # anymail sends these to the ESP so tracking webhooks can name the notification.
        email.metadata = {"notification_id": message.notification_id, **message.metadata}  # type: ignore[attr-defined]
        return email

    def transport(self, payload: EmailMultiAlternatives) -> EmailMultiAlternatives:
        sent = self.connection.send_messages([payload])
        if not sent:
            raise TransientError("the email backend accepted no message", code="not_sent")
        return payload

    def parse_result(self, response: Any, payload: EmailMultiAlternatives, message: OutboundMessage) -> SendResult:
        status = getattr(payload, "anymail_status", None)
        if status is not None and status.message_id:
            message_id = status.message_id
            if isinstance(message_id, set):  # one id per recipient; we always send to one
                message_id = next(iter(message_id))
            return SendResult(provider_message_id=str(message_id), status=",".join(sorted(status.status or [])))
        return SendResult(provider_message_id=payload.extra_headers.get("Message-ID", ""), status="sent")

    def classify(self, exc: Exception) -> DeliveryError:
        if isinstance(exc, AnymailRecipientsRefused):
            return PermanentError(f"recipient refused by {self.name}: {exc}", code="recipients_refused")
        if isinstance(exc, (AnymailRequestsAPIError, AnymailAPIError)):
            status = getattr(exc, "status_code", None)
            if status is None or status == 429 or status >= 500:
                return TransientError(
                    f"{self.name} API: {exc}", code=f"http_{status or 'network'}", ambiguous=_timed_out(exc)
                )
            return PermanentError(f"{self.name} API refused the message: {exc}", code=f"http_{status}")
        if isinstance(exc, AnymailError):
            return PermanentError(f"{self.name}: {exc}", code=type(exc).__name__)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return PermanentError(f"SMTP refused the recipient: {exc}", code="smtp_recipients_refused")
        if isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            error = PermanentError if 500 <= code < 600 else TransientError
            return error(f"SMTP {code}: {exc.smtp_error!r}", code=f"smtp_{code}")
        return super().classify(exc)


PREVIEW_UNSUBSCRIBE_URL = "https://example.com/unsubscribe/preview/"


class EmailChannel(ChannelSpec):
    name = "email"
    label = "Email"
    address_label = "email address"
    address_word = "email"
    parts = ("subject", "text", "html")
    cost_unit = MESSAGE
    quiet_hours = False

    def address_for(self, recipient: Any) -> str:
        return recipient.email or ""

    def content_problems(self, parts: Mapping[str, str]) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if not parts.get("subject"):
            problems["subject"] = ["An email needs a subject."]
        if not (parts.get("text") or parts.get("html")):
            problems["html"] = ["An email needs an HTML or a text part."]
        return problems

    def normalize_address(self, address: str) -> str:
        return address.strip().lower()

    def address_key(self, address: str) -> str:
        return address.strip().lower()  # mailbox names are case-insensitive in practice

    def extra_context(self, *, recipient_id: int, purpose: str, category: str, preview: bool) -> dict[str, Any]:
        """Marketing mail names its one-click unsubscribe link (templates and layouts may show it)."""
        if purpose != MARKETING:
            return {}
        if preview:
            return {"unsubscribe_url": PREVIEW_UNSUBSCRIBE_URL}
        token = unsubscribe_token(recipient_id=recipient_id, category=category)
        return {"unsubscribe_url": unsubscribe_url(token), "unsubscribe_token": token, "category": category}

    def finish(self, rendered: Any, *, extra: Any) -> tuple[Any, dict[str, str]]:
        """Marketing mail: the List-Unsubscribe headers (Gmail/Yahoo bulk-sender rules) and a visible link
        unless the template already shows it."""
        token = extra.get("unsubscribe_token")
        if not token:
            return rendered, {}
        link = extra["unsubscribe_url"]
        return with_unsubscribe_footer(rendered, link=link, category=extra["category"]), list_unsubscribe_headers(
            token, url=link
        )

    def providers(self) -> FailoverProvider:
        fallbacks = getattr(settings, "EMAIL_FALLBACK_BACKENDS", [])
        return FailoverProvider([EmailProvider(), *(EmailProvider(backend) for backend in fallbacks)])


def with_unsubscribe_footer(rendered: RenderedMessage, *, link: str, category: str) -> RenderedMessage:
    """Add the visible unsubscribe link unless the template already shows it."""
    body, html = rendered.body, rendered.html
    if link not in body:
        body = f"{body.rstrip()}\n\n--\nUnsubscribe from {category} emails: {link}\n"
    if html and link not in html:
        html = (
            f'{html}\n<p style="font-size:12px;color:#666">You receive these {escape(category)} emails because '
            f'you agreed to. <a href="{escape(link)}">Unsubscribe</a></p>'
        )
    return RenderedMessage(subject=rendered.subject, body=body, html=html)


EMAIL = register(EmailChannel())
