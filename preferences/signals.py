"""The mailto: half of List-Unsubscribe: an unsubscribe email reaches commhub as an anymail inbound event
(/webhooks/anymail/<esp>/inbound/, served with EMAIL_WEBHOOK_SECRET) and withdraws like the one-click POST."""

from __future__ import annotations

import logging
import re

from anymail.signals import inbound
from django.dispatch import receiver

from .unsubscribe import BadUnsubscribeToken, unsubscribe

logger = logging.getLogger(__name__)

_SUBJECT = re.compile(r"\bunsubscribe\s+(\S+)", re.IGNORECASE)


@receiver(inbound, dispatch_uid="commhub-unsubscribe-by-email")
def unsubscribe_by_email(sender, event, esp_name: str, **kwargs) -> None:
    """Subject "unsubscribe <token>" (what our mailto: link pre-fills) withdraws; anything else is ignored."""
    match = _SUBJECT.search(event.message.subject or "") if event.message is not None else None
    if match is None:
        return
    try:
        recipient, category, record = unsubscribe(
            token=match.group(1),
            ip_address=None,
            user_agent=f"{esp_name} inbound email",
            how=f"mailto ({esp_name} inbound {event.event_id or ''})".strip(),
        )
    except BadUnsubscribeToken:
        logger.warning("unsubscribe email via %s with an invalid token ignored", esp_name)
        return
    logger.info("recipient %s unsubscribed from %s by email (%s)", recipient.pk, category, "new" if record else "again")
