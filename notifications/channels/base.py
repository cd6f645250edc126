"""The provider contract: send -> build_payload -> transport -> parse_result.

A provider is one small class per way of delivering a channel (anymail ESP, Twilio, local capture).
It maps its library's errors to TransientError (worth retrying) or PermanentError (never retry); the
pipeline only ever sees those two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from commhub import channels


@dataclass(frozen=True)
class OutboundMessage:
    notification_id: str
    channel: str
    to: str
    body: str
    subject: str = ""
    html: str = ""
    title: str = ""  # push and in-app
    action_url: str = ""  # in-app
    action_label: str = ""  # in-app
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    limits: tuple = ()  # rate limits (ratelimit.Rate) that must all allow this message, whatever the sender
    critical: bool = False  # may go ahead of bulk work on a paced sender

    @cached_property
    def units(self) -> int:
        """What a sender's pace and a price count (the channel decides: the segments of an SMS, 1 for an email)."""
        return channels.get(self.channel).units(self.body)


@dataclass(frozen=True)
class BatchRecipient:
    """One recipient of a batch send: their address, their merge values and their own headers."""

    notification_id: str
    to: str
    merge_data: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchMessage:
    """One message to many recipients, as an ESP's batch API takes it: shared text with merge fields (in the
    provider's own syntax) that the ESP fills in for each recipient. Addresses are unique within a batch."""

    channel: str
    subject: str
    body: str
    html: str
    recipients: tuple[BatchRecipient, ...]


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    segments: int | None = None
    price: Decimal | None = None  # the provider's own price, when it reports one
    currency: str | None = None
    status: str = ""
    provider: str = ""  # the provider that took it, when a failover chain chose one


class DeliveryError(Exception):
    transient = False

    def __init__(
        self, message: str, *, code: str = "", ambiguous: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # the request may have reached the provider (a timeout after sending): another provider could duplicate it
        self.ambiguous = ambiguous
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After): the retry waits as long


class TransientError(DeliveryError):
    """Network trouble, throttling, a provider 5xx: the same request may succeed later."""

    transient = True


class PermanentError(DeliveryError):
    """Invalid recipient, refused content, bad credentials: retrying would fail the same way."""


class Provider:
    name: str = "provider"  # what attempts, costs and prices are recorded under
    channel: str = ""

    @property
    def sender(self) -> str:
        """Who the message goes out as: what a circuit breaker and a pace apply to (COMMHUB_SENDER_RATES)."""
        return self.name

    def open(self) -> None:
        """Prepare for a run of sends (e.g. open a keep-alive session)."""

    def close(self) -> None:
        """End a run of sends."""

    def send(self, message: OutboundMessage) -> SendResult:
        payload = self.build_payload(message)
        try:
            response = self.transport(payload)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self.classify(exc) from exc
        return self.parse_result(response, payload, message)

    def build_payload(self, message: OutboundMessage) -> Any:
        raise NotImplementedError

    def transport(self, payload: Any) -> Any:
        raise NotImplementedError

    def parse_result(self, response: Any, payload: Any, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def classify(self, exc: Exception) -> DeliveryError:
        """Map a library exception to TransientError or PermanentError. Unknown errors are transient:
        a retry is cheaper than a message dropped for a reason nobody understood."""
        return TransientError(f"{type(exc).__name__}: {exc}", code=type(exc).__name__)
