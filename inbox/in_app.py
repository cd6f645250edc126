"""The in-app channel: its provider is commhub itself, which puts the rendered message in the recipient's inbox.

Everyone with an id has an inbox, so the address is the recipient's own id. Delivery is idempotent: the item is
keyed by its notification, so a send repeated after a crash (the sweeper's re-queue) finds the item it made.
In-app messages are silent, so quiet hours do not apply unless COMMHUB_QUIET_HOURS_CHANNELS says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction

from commhub.channels import MESSAGE, ChannelSpec, register
from notifications.channels.base import OutboundMessage, Provider, SendResult
from notifications.channels.failover import FailoverProvider
from notifications.models import Notification
from notifications.selectors import notification_type_by_id

from .events import events_record
from .models import InboxEvent, InboxItem


class InboxProvider(Provider):
    name = "inbox"
    channel = "in_app"

    def build_payload(self, message: OutboundMessage) -> OutboundMessage:
        return message

    def transport(self, payload: OutboundMessage) -> InboxItem:
        row = Notification.objects.values("recipient_id", "organisation_id", "notification_type_id").get(
            pk=payload.notification_id
        )
        with transaction.atomic():  # the item and its "new" event, or neither
            item, created = InboxItem.objects.get_or_create(
                notification_id=payload.notification_id,
                defaults={
                    "organisation_id": row["organisation_id"],
                    "recipient_id": row["recipient_id"],
                    "title": payload.title[:255],
                    "body": payload.body,
                    "action_url": payload.action_url[:1000],
                    "action_label": payload.action_label[:64],
                    "category": getattr(notification_type_by_id(row["notification_type_id"]), "category", "")[:64],
                },
            )
            if created:
                events_record([item], InboxEvent.Kind.NEW)
        return item

    def parse_result(self, response: InboxItem, payload: Any, message: OutboundMessage) -> SendResult:
        return SendResult(provider_message_id=f"inbox-{response.pk}", status="in inbox")


class InAppChannel(ChannelSpec):
    name = "in_app"
    label = "In-app"
    address_label = "inbox"
    address_word = "inbox"
    parts = ("title", "text", "action_url", "action_label")
    cost_unit = MESSAGE
    default_price = Decimal("0")  # commhub carries it: a price of zero, still counted
    quiet_hours = False

    def address_for(self, recipient: Any) -> str:
        return recipient.external_id or ""

    def content_problems(self, parts: Mapping[str, str]) -> dict[str, list[str]]:
        if not (parts.get("title") or parts.get("text")):
            return {"title": ["An in-app message needs a title or a text."]}
        if parts.get("action_label") and not parts.get("action_url"):
            return {"action_url": ["An action label needs the link it names."]}
        return {}

    def providers(self) -> FailoverProvider:
        return FailoverProvider([InboxProvider()])


IN_APP = register(InAppChannel())
