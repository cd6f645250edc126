"""Send windows in the recipient's local time (TCPA: no marketing texts before 08:00 or after 21:00 local).

Pure functions of a recipient and an instant, so they are tested at fixed clocks. Wall-clock arithmetic
goes through zoneinfo, so "08:00 local" is right on both sides of a DST change: the next allowed moment
is built from the local date and the window's start, then converted, never "now + N hours".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commhub import channels
from commhub.conf import knobs


@dataclass(frozen=True)
class SendWindow:
    """Allowed local times [start, end). start > end is an overnight window (e.g. 22:00-06:00)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _parse(value: str) -> time:
    return time.fromisoformat(value)


def default_window() -> SendWindow:
    conf = knobs()
    return SendWindow(_parse(conf.send_window_start), _parse(conf.send_window_end))


def apply_to(channel: str) -> bool:
    """Whether quiet hours apply to `channel` (for the types that respect them)."""
    configured = knobs().quiet_hours_channels
    return channel in configured if configured is not None else channels.get(channel).quiet_hours


def window_for(recipient) -> SendWindow:
    if recipient.send_window_start is not None and recipient.send_window_end is not None:
        return SendWindow(recipient.send_window_start, recipient.send_window_end)
    return default_window()


def zones_for(recipient) -> tuple[list[ZoneInfo], bool]:
    """The recipient's zone, or (unknown zone) the configured conservative set. Returns (zones, known)."""
    tz = zone(recipient.timezone)
    if tz is not None:
        return [tz], True
    fallback = [z for z in (zone(name) for name in knobs().unknown_timezones) if z is not None]
    return fallback or [ZoneInfo("UTC")], False


def _local_start(day: date, start: time, tz: ZoneInfo) -> datetime:
    """The instant of `start` on local `day`. A start inside a spring-forward gap resolves with the pre-gap
    offset (fold=0), which lands just after the gap: 02:30 on that day is 03:30 summer time."""
    return datetime.combine(day, start, tzinfo=tz).astimezone(UTC)


def _allowed(at: datetime, window: SendWindow, zones: list[ZoneInfo]) -> bool:
    return all(window.contains(at.astimezone(tz).time()) for tz in zones)


def next_allowed_moment(recipient, at: datetime) -> datetime:
    """`at` when it falls in the recipient's window (in every zone considered), else the first moment after
    it that does. For an unknown zone every configured fallback zone must agree."""
    window = window_for(recipient)
    zones, _ = zones_for(recipient)
    if _allowed(at, window, zones):
        return at
    candidates = []
    for tz in zones:
        local_day = at.astimezone(tz).date()
        for offset in range(-1, 4):
            candidate = _local_start(local_day + timedelta(days=offset), window.start, tz)
            if candidate > at:
                candidates.append(candidate)
    for candidate in sorted(candidates):
        if _allowed(candidate, window, zones):
            return candidate
    # The fallback zones' windows never overlap (a narrow window across distant zones): use the first zone.
    return min(c for c in candidates if _allowed(c, window, zones[:1]))


def describe_local(recipient, at: datetime) -> str:
    """'06:00 America/New_York' — how a trace names a moment for this recipient."""
    zones, known = zones_for(recipient)
    tz = zones[0]
    label = tz.key if known else f"{tz.key} (recipient's zone unknown)"
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M} {label}"
