"""What happened to a notification, told to whoever listens (the hooks app's event subscriptions).

The status writer (status.py) announces every move that ends somewhere a product backend cares about, and
every inserted row, inside the transaction that makes the change: a listener that writes rows (an outbox)
writes them in that transaction, so a rolled-back change announces nothing that survives, and a committed one
cannot lose its event. Provider feedback that is not a move (an open, a click) is announced by feedback.py.

Listeners register in their app's ready(). `listening()` is checked first so that, with nobody interested,
a move costs nothing more than it did.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .constants import Status

# The events, in the order a notification can go through them (README: "Lifecycle events").
EVENTS = (
    "accepted",
    "suppressed",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "failed",
    "expired",
    "cancelled",
)
# the event a move into each status is; moves into other statuses (sending, a retry's queued) are not events
EVENT_OF_STATUS = {
    Status.SENT: "sent",
    Status.DELIVERED: "delivered",
    Status.FAILED: "failed",
    Status.SUPPRESSED: "suppressed",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class Happened:
    """One event of one notification."""

    notification_id: uuid.UUID
    organisation_id: int
    notification_type_id: int
    channel: str
    recipient_id: int
    event: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)  # reason, error_code, provider_message_id, ...


class Listener(Protocol):
    def listening(self) -> bool:
        """Whether any event may be wanted now (cheap: asked before every announcing move)."""

    def heard(self, happened: list[Happened]) -> None:
        """Called inside the transaction of the change."""


_LISTENERS: list[Listener] = []


def listener_add(listener: Listener) -> None:
    _LISTENERS.append(listener)


def listening() -> bool:
    return any(listener.listening() for listener in _LISTENERS)


def announce(happened: Iterable[Happened]) -> None:
    told = list(happened)
    if not told:
        return
    for listener in _LISTENERS:
        listener.heard(told)


def happened_to(row: Any, event: str, *, at: datetime, **detail: Any) -> Happened:
    """The event `event` of `row` (a Notification, or anything with its ids and channel)."""
    return Happened(
        notification_id=row.pk,
        organisation_id=row.organisation_id,
        notification_type_id=row.notification_type_id,
        channel=row.channel,
        recipient_id=row.recipient_id,
        event=event,
        at=at,
        detail={key: value for key, value in detail.items() if value not in (None, "")},
    )
