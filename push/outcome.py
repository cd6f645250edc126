"""What one push service said about one browser or device."""

from __future__ import annotations

from dataclasses import dataclass

SENT = "sent"
GONE = "gone"  # the subscription or token no longer exists: forget it
TRANSIENT = "transient"  # worth trying again later (throttled, the service down)
PERMANENT = "permanent"  # this target refuses this message; trying again fails the same way


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str = ""
    code: str = ""
    message_id: str = ""
    ambiguous: bool = False  # the request may have been taken (a timeout after sending)
    retry_after: float | None = None  # seconds the push service asked us to wait (Retry-After)
