"""The webhook channel: a person's notifications POSTed, signed, to the endpoints registered for them (a partner's
system, a chat integration). The body is the template's text rendered to a JSON object (checked when a version is
saved and again at send), or, with no text, an envelope of the notification. A person is reachable when they have
an enabled endpoint. A message is sent when one endpoint answers 2xx; 408, 409, 429, 5xx and network errors are
worth a retry; a 410 disables the endpoint (the receiver is gone), any other answer fails the message for good, and
with no endpoint left the type's fallback channel carries it. Quiet hours never apply (machines do not sleep).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone
from urllib3.exceptions import HTTPError, ReadTimeoutError

from commhub.channels import MESSAGE, RegisteredTargets, register
from notifications.channels.base import OutboundMessage, PermanentError, Provider, SendResult, TransientError
from notifications.channels.failover import FailoverProvider
from notifications.models import Notification

from . import services
from .models import SignedEndpoint, WebhookEndpoint
from .outbound import Answer, UnsafeUrl, post
from .selectors import recipients_with_endpoints
from .signing import signed_headers

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class Delivery:
    endpoint: SignedEndpoint
    ok: bool
    transient: bool
    said: str
    gone: bool = False
    ambiguous: bool = False
    retry_after: float | None = None


def envelope(notification: Mapping[str, Any]) -> dict[str, Any]:
    """The body when the template has no text: what happened, to whom, with the data the product sent."""
    return {
        "type": "notification",
        "notification": str(notification["id"]),
        "notification_type": notification["notification_type__key"],
        "recipient": notification["recipient__external_id"],
        "data": notification["data"],
        "created_at": notification["created_at"].isoformat(),
    }


def _said(answer: Answer) -> str:
    text = " ".join(answer.text.split())[:200]
    return f"answered {answer.status}" + (f": {text}" if text else "")


def deliver(endpoint: SignedEndpoint, *, message_id: str, body: bytes) -> Delivery:
    """One signed POST to one endpoint, and what its answer means."""
    headers = signed_headers(message_id=message_id, body=body, keys=services.signing_keys(endpoint), at=timezone.now())
    try:
        answer = post(endpoint.url, body=body, headers=headers)
    except UnsafeUrl as exc:
        return Delivery(endpoint, ok=False, transient=False, said=f"refused to call it: {exc}")
    except ReadTimeoutError as exc:
        return Delivery(endpoint, ok=False, transient=True, said=f"no answer: {exc}", ambiguous=True)
    except (HTTPError, OSError) as exc:
        return Delivery(endpoint, ok=False, transient=True, said=f"unreachable: {type(exc).__name__}: {exc}")
    said = _said(answer)
    if 200 <= answer.status < 300:
        return Delivery(endpoint, ok=True, transient=False, said=said)
    if 300 <= answer.status < 400:
        said += f" (a redirect to {answer.location or '?'}: not followed)"
    transient = answer.status in TRANSIENT_STATUSES or answer.status >= 500
    return Delivery(
        endpoint, ok=False, transient=transient, said=said, gone=answer.status == 410, retry_after=answer.retry_after
    )


class WebhookProvider(Provider):
    name = "webhook"
    channel = "webhook"

    def build_payload(self, message: OutboundMessage) -> OutboundMessage:
        return message

    def transport(self, payload: OutboundMessage) -> list[Delivery]:
        row = (
            Notification.objects.filter(pk=payload.notification_id)
            .values("id", "recipient_id", "notification_type__key", "recipient__external_id", "data", "created_at")
            .get()
        )
        endpoints = list(WebhookEndpoint.objects.filter(recipient_id=row["recipient_id"], enabled=True).order_by("id"))
        if not endpoints:
            raise PermanentError("recipient has no enabled webhook endpoint any more", code="unreachable")
        if payload.body.strip():
            try:
                document = json.loads(payload.body)
            except ValueError as exc:
                raise PermanentError(
                    f"the template's text is not JSON for this message: {exc}", code="invalid_json"
                ) from None
        else:
            document = envelope(row)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        # the same id on every retry and endpoint: receivers deduplicate by it (Standard Webhooks)
        results = [deliver(e, message_id=f"msg_{payload.notification_id}", body=body) for e in endpoints]
        for result in results:
            services.endpoint_answered(endpoint_id=result.endpoint.pk, ok=result.ok, said=result.said, gone=result.gone)
        return results

    def parse_result(self, response: Any, payload: Any, message: OutboundMessage) -> SendResult:
        taken = [d for d in response if d.ok]
        if taken:
            return SendResult(
                provider_message_id=f"msg_{message.notification_id}",
                status=f"taken by {len(taken)} of {len(response)} endpoints",
            )
        first = response[0]
        if transient := next((d for d in response if d.transient), None):
            waits = [d.retry_after for d in response if d.transient and d.retry_after]
            raise TransientError(
                f"{transient.endpoint.url} {transient.said}",
                ambiguous=transient.ambiguous,
                retry_after=max(waits) if waits else None,  # the endpoint's Retry-After
            )
        raise PermanentError(f"{first.endpoint.url} {first.said}", code="gone" if first.gone else "refused")


class WebhookChannel(RegisteredTargets):
    name = "webhook"
    label = "Webhook"
    address_label = "webhook endpoint"
    address_word = "webhook for"
    parts = ("text",)  # the JSON body
    cost_unit = MESSAGE
    default_price = Decimal("0")
    quiet_hours = False

    def reachable(self, recipient_ids: list[int]) -> set[int]:
        return recipients_with_endpoints(recipient_ids)

    def content_problems(self, parts: Mapping[str, str]) -> dict[str, list[str]]:
        return {}  # no text: the notification's envelope is sent

    def rendered_problems(self, rendered: Any) -> dict[str, list[str]]:
        if not rendered.body.strip():
            return {}
        try:
            document = json.loads(rendered.body)
        except ValueError as exc:
            return {"text": [f"Renders to text that is not JSON ({exc}); write values with | tojson."]}
        if not isinstance(document, dict):
            return {"text": ["Renders to JSON that is not an object ({...})."]}
        return {}

    def providers(self) -> FailoverProvider:
        return FailoverProvider([WebhookProvider()])


WEBHOOK = register(WebhookChannel())
