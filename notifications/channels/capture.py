"""The embedded mode's providers: messages are stored in the database instead of leaving the machine.

Staff read them in the admin (Captured messages). The email side is a regular Django email backend, so
anything that sends mail through Django (password resets too) is captured the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

from notifications.models import CapturedMessage

from .base import OutboundMessage, Provider, SendResult


class CaptureEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        count = 0
        for message in email_messages:
            html = next(
                (content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"),
                "",
            )
            headers = {str(k): str(v) for k, v in message.extra_headers.items()}
            message_id = headers.get("Message-ID") or f"<{uuid.uuid4()}@commhub.local>"
            CapturedMessage.objects.create(
                channel="email",
                notification_id=headers.get("X-Commhub-Notification") or None,
                to=", ".join(message.to),
                from_address=message.from_email or "",
                subject=message.subject,
                body=message.body,
                html=html,
                headers=headers,
                message_id=message_id,
            )
            count += 1
        return count


class CaptureSmsProvider(Provider):
    name = "capture"
    channel = "sms"

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        return {
            "channel": "sms",
            "notification_id": message.notification_id or None,
            "to": message.to,
            "from_address": settings.TWILIO_FROM_NUMBER,
            "body": message.body,
            "message_id": f"SMcap{uuid.uuid4().hex[:27]}",
        }

    def transport(self, payload: dict[str, Any]):
        return CapturedMessage.objects.create(**payload)

    def parse_result(self, response: Any, payload: dict[str, Any], message: OutboundMessage) -> SendResult:
        return SendResult(provider_message_id=response.message_id, segments=message.units, status="captured")
