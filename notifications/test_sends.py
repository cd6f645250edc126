"""Test sends: a template version, rendered as the preview shows it, sent to the staff member themself through
the channel's configured provider. No notification is created and nobody else receives it."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from commhub import channels
from preferences.services import recipient_upsert
from templates_app.models import TemplateVersion
from templates_app.services import template_preview

from .channels.base import DeliveryError, OutboundMessage
from .channels.providers import provider_for

logger = logging.getLogger(__name__)


def staff_test_recipient(user):
    """Staff test sends go to the staff member's own contact points: their user's email, and the phone of the
    recipient `staff:<username>` (created on first use; staff set its phone in the admin)."""
    recipient, _ = recipient_upsert(external_id=f"staff:{user.get_username()}")
    if user.email and recipient.email != user.email:
        recipient, _ = recipient_upsert(external_id=recipient.external_id, email=user.email)
    return recipient


def template_test_send(*, version: TemplateVersion, user, data: dict | None = None) -> str:
    """Send the rendered version to the staff member themself, through the configured provider. Returns the
    provider's message id. Nothing else is sent and no notification is created."""
    channel = version.template.channel
    recipient = staff_test_recipient(user)
    to = recipient.address_for(channel)
    if not to:
        what = (
            "an email address on your user"
            if channel == "email"
            else f"a {channels.get(channel).address_label} on recipient {recipient}"
        )
        raise ValidationError({"channel": [f"Set {what} to receive test sends."]})
    preview = template_preview(version=version, data=data, recipient=recipient)
    provider = provider_for(channel)
    try:
        result = provider.send(
            OutboundMessage(
                notification_id="",  # a test send belongs to no notification
                channel=channel,
                to=to,
                subject=f"[TEST] {preview.subject}" if preview.subject else "",
                body=preview.text,
                html=preview.html,
                headers={"X-Commhub-Test": "1"},
            )
        )
    except DeliveryError as exc:
        raise ValidationError({"channel": [f"The provider refused the test send: {exc.message}"]}) from exc
    logger.info("test send of %s to %s by %s: %s", version, to, user, result.provider_message_id)
    return result.provider_message_id
