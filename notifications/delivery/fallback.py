"""Fallback: a message that failed for good on its channel, queued again on its type's fallback channel."""

from __future__ import annotations

import logging

from django.utils import timezone

from notifications.constants import Status
from notifications.models import Notification
from notifications.queueing import kick_on_commit
from notifications.status import status_initial, status_inserted
from notifications.trace import trace_step
from templates_app.selectors import template_for

logger = logging.getLogger(__name__)


def fallback_create(*, notification: Notification, reason: str) -> Notification | None:
    """Queue the same message on the type's fallback channel after the primary failed for good.

    Only a primary notification falls back (no chains), only once, and only when the recipient can be
    reached on the fallback channel and a template exists for it.
    """
    ntype = notification.notification_type
    channel = ntype.fallback_channel
    if not channel or channel == notification.channel or notification.fallback_of_id:
        return None
    if not ntype.allows(channel) or Notification.objects.filter(fallback_of=notification).exists():
        return None
    to = notification.recipient.address_for(channel)
    live = template_for(
        notification_type_id=ntype.pk,
        channel=channel,
        locale=notification.recipient.locale,
        default_locale=ntype.default_locale,
        organisation_id=notification.organisation_id,
    )
    if not to or live is None:
        logger.info("notification %s: no fallback (%s)", notification.pk, "no address" if not to else "no template")
        return None
    now = timezone.now()
    fallback = Notification(
        organisation_id=notification.organisation_id,
        recipient=notification.recipient,
        notification_type=ntype,
        channel=channel,
        priority=notification.priority,
        queue=Notification.queue_for(channel, ntype.tier, notification.priority),
        data=notification.data,
        template=live.template,
        template_version=live.version,
        to_address=to,
        send_at=now,
        expires_at=notification.expires_at,  # the message is as late on any channel
        max_attempts=ntype.max_retries + 1,
        fallback_of=notification,
        submitted_by_id=notification.submitted_by_id,
        created_at=now,
    )
    step = trace_step("fallback", "pass", f"{notification.channel} failed ({reason}); trying {channel}")
    status_initial(fallback, to=Status.QUEUED, step=step)
    fallback.save(force_insert=True)
    status_inserted([fallback])
    kick_on_commit([fallback.queue])
    return fallback
