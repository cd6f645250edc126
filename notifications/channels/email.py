"""The email channel: addressed by the recipient's email, a subject and text and HTML parts, priced per message,
no quiet hours; sent through any Django email backend (an anymail ESP in production, capture in the embedded
mode), with failover to further ESPs. Marketing mail carries one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
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
from commhub.conf import knobs
from preferences.constants import MARKETING
from preferences.unsubscribe import list_unsubscribe_headers, unsubscribe_token, unsubscribe_url
from templates_app.rendering import RenderedMessage

from . import postmark
from .base import (
    BatchMessage,
    DeliveryError,
    OutboundMessage,
    PermanentError,
    Provider,
    SendResult,
    TransientError,
)
from .failover import FailoverProvider
from .http import lean_session_for, tune_session


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


# ESPs whose send API takes many recipients in one call with per-recipient substitutions in on-the-fly content
# (anymail's batch sending: `to` with `merge_data`, `merge_metadata` and `merge_headers`), and their merge-field
# syntax: the "merge" batch form. Mailgun's is its own; SendGrid's legacy substitutions replace any key we name
# (anymail's merge_field_format), so the key is one no rendered text holds.
MERGE_FIELD_SYNTAX = {"mailgun": "%recipient.{}%", "sendgrid": "%commhub.{}%"}
# The most bytes of merge data one recipient may carry (SendGrid: 10,000 of substitutions per personalization); a
# recipient with more is sent on their own.
MERGE_DATA_LIMIT = {"sendgrid": 10_000}
# What an ESP must be told so it reads our merge fields (SendGrid substitutes the keys anymail formats with this)
_MERGE_ESP_EXTRA = {"sendgrid": {"merge_field_format": MERGE_FIELD_SYNTAX["sendgrid"]}}
# ESPs whose batch call takes a list of complete messages (Postmark's /email/batch), and how many per call: the
# "messages" batch form. Others (Brevo or SES, whose batch forms need stored templates) send one message per call.
MESSAGE_LIST_LIMIT = {"postmark": postmark.BATCH_LIMIT}
# anymail backends replaced by a subclass: Mailgun's encodes messages cheaply (multipart, not url-encoded),
# Postmark's adds the batch call
_BATCH_BACKENDS = {
    "anymail.backends.mailgun.EmailBackend": "notifications.channels.mailgun.EmailBackend",
    "anymail.backends.postmark.EmailBackend": "notifications.channels.postmark.EmailBackend",
}


class EmailProvider(Provider):
    channel = "email"

    def __init__(self, backend: str | None = None, from_email: str | None = None) -> None:
        self.backend_path = backend or settings.EMAIL_BACKEND
        self.name = _provider_name(self.backend_path)
        self.from_email = from_email or settings.DEFAULT_FROM_EMAIL
        self.connection = get_connection(_BATCH_BACKENDS.get(self.backend_path, self.backend_path))

    def open(self) -> None:
        # anymail keeps its requests session (and the ESP's keep-alive connection) until close()
        if self.connection.open():  # a new session (anymail answers False when it has one already)
            session = getattr(self.connection, "session", None)
            lean = lean_session_for(session) if knobs().lean_http else None
            if lean is None:
                tune_session(session)
            else:
                self.connection.session = lean

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

    @property
    def merge_field_syntax(self) -> str | None:
        """How this ESP writes a merge field (`%recipient.{}%`), or None when it has no merge batch form."""
        return MERGE_FIELD_SYNTAX.get(self.name)

    @property
    def merge_data_limit(self) -> int | None:
        """The most bytes of merge data one recipient of a merge batch may carry, or None."""
        return MERGE_DATA_LIMIT.get(self.name)

    @property
    def batch_form(self) -> str | None:
        """ "merge" (one text with merge fields, send_batch), "messages" (a list of complete messages,
        send_each) or None (one message per call)."""
        if self.name in MERGE_FIELD_SYNTAX:
            return "merge"
        if self.name in MESSAGE_LIST_LIMIT and hasattr(self.connection, "send_each"):
            return "messages"
        return None

    @property
    def batch_limit(self) -> int:
        """The most messages the ESP takes in one batch call: its list limit, else 1,000 (Mailgun's recipients,
        SendGrid's personalizations); COMMHUB_ESP_BATCH_SIZE caps it further."""
        return MESSAGE_LIST_LIMIT.get(self.name, 1000)

    def send_each(self, messages: list[OutboundMessage]) -> dict[str, SendResult | DeliveryError]:
        """One API call for complete `messages` (the "messages" form); per notification id its result, or the
        error its message alone was refused with (what a single send of it would have raised). DeliveryError
        when the call as a whole failed."""
        emails = [self.build_payload(m) for m in messages]
        created = self.connection.open()
        try:
            answers = self.connection.send_each(emails)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self.classify(exc) from exc
        finally:
            if created:
                self.connection.close()
        return {
            m.notification_id: postmark.answer_result(a, provider=self.name)
            for m, a in zip(messages, answers, strict=True)
        }

    def send_batch(self, batch: BatchMessage) -> dict[str, SendResult]:
        """One API call for every recipient of `batch`; the result per notification id. Each recipient gets
        their own merge values, headers and metadata (the notification id tracking webhooks report)."""
        # headers with one value for everyone go once, the rest per recipient
        first = batch.recipients[0].headers
        common = {k: v for k, v in first.items() if all(r.headers.get(k) == v for r in batch.recipients)}
        email = EmailMultiAlternatives(
            subject=batch.subject,
            body=batch.body,
            from_email=self.from_email,
            to=[r.to for r in batch.recipients],
            headers=common,
            connection=self.connection,
        )
        if batch.html:
            email.attach_alternative(batch.html, "text/html")
        if self.name in _MERGE_ESP_EXTRA:
            email.esp_extra = dict(_MERGE_ESP_EXTRA[self.name])  # type: ignore[attr-defined]
        email.merge_data = {r.to: r.merge_data for r in batch.recipients}  # type: ignore[attr-defined]
        email.merge_metadata = {  # type: ignore[attr-defined]
            r.to: {"notification_id": r.notification_id} for r in batch.recipients
        }
        email.merge_headers = {  # type: ignore[attr-defined]
            r.to: {
                "X-Commhub-Notification": r.notification_id,
                **{k: v for k, v in r.headers.items() if k not in common},
            }
            for r in batch.recipients
        }
        try:
            self.transport(email)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self.classify(exc) from exc
        anymail_status = email.anymail_status  # type: ignore[attr-defined]
        shared_id = anymail_status.message_id if isinstance(anymail_status.message_id, str) else ""
        results = {}
        for r in batch.recipients:
            status = anymail_status.recipients.get(r.to)
            # Mailgun gives one id to the whole batch; tracking events name the recipient and our metadata
            message_id = (status.message_id if status is not None else None) or shared_id
            results[r.notification_id] = SendResult(
                provider_message_id=str(message_id), status=status.status if status is not None else "queued"
            )
        return results

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
    default_price = Decimal("0.0001")
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

    def finish(self, rendered: Any, *, extra: Any, facts: tuple | None = None) -> tuple[Any, dict[str, str]]:
        """Marketing mail: the List-Unsubscribe headers (Gmail/Yahoo bulk-sender rules) and a visible link
        unless the template already shows it."""
        token = extra.get("unsubscribe_token")
        if not token:
            return rendered, {}
        link = extra["unsubscribe_url"]
        shown = facts if facts is not None else self.finish_facts(rendered, extra=extra)
        finished = with_unsubscribe_footer(rendered, link=link, category=extra["category"], shown=shown)
        return finished, list_unsubscribe_headers(token, url=link)

    def finish_facts(self, rendered: Any, *, extra: Any) -> tuple:
        """Whether the text and the HTML part already show the unsubscribe link."""
        link = extra.get("unsubscribe_url")
        if not link:
            return ()
        return (link in rendered.body, link in rendered.html)

    def providers(self) -> FailoverProvider:
        fallbacks = getattr(settings, "EMAIL_FALLBACK_BACKENDS", [])
        return FailoverProvider([EmailProvider(), *(EmailProvider(backend) for backend in fallbacks)])


def with_unsubscribe_footer(
    rendered: RenderedMessage, *, link: str, category: str, shown: tuple = (False, False)
) -> RenderedMessage:
    """Add the visible unsubscribe link where the template does not show it already (`shown`: in the text, in
    the HTML)."""
    body, html = rendered.body, rendered.html
    in_body, in_html = shown
    if not in_body:
        body = f"{body.rstrip()}\n\n--\nUnsubscribe from {category} emails: {link}\n"
    if html and not in_html:
        html = (
            f'{html}\n<p style="font-size:12px;color:#666">You receive these {escape(category)} emails because '
            f'you agreed to. <a href="{escape(link)}">Unsubscribe</a></p>'
        )
    return replace(rendered, body=body, html=html)


EMAIL = register(EmailChannel())
