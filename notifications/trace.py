"""The decision trace: the readable story stored on every notification ("why did / didn't it go?")."""

from __future__ import annotations

from collections.abc import Iterable


def trace_step(check: str, outcome: str, reason: str) -> dict[str, str]:
    return {"check": check, "outcome": outcome, "reason": reason}


def used_fallback_channel(trace: Iterable[dict]) -> bool:
    """True when submit routed the notification to its type's fallback channel (default unreachable)."""
    return any(step.get("check") == "channel" and step.get("outcome") == "fallback" for step in trace)
