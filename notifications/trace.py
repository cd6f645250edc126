"""The decision trace: the readable story stored on every notification ("why did / didn't it go?")."""

from __future__ import annotations

from collections.abc import Iterable


def trace_step(check: str, outcome: str, reason: str) -> dict[str, str]:
    return {"check": check, "outcome": outcome, "reason": reason}


def trace_blanked(trace: Iterable[dict], reason: str) -> list[dict[str, str]]:
    """The same checks and outcomes with every reason replaced (a reason may name an address: erasure, retention)."""
    return [trace_step(step.get("check", ""), step.get("outcome", ""), reason) for step in trace]


def used_fallback_channel(trace: Iterable[dict]) -> bool:
    """True when submit routed the notification to its type's fallback channel (default unreachable)."""
    return any(step.get("check") == "channel" and step.get("outcome") == "fallback" for step in trace)
