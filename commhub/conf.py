"""commhub's own knobs, typed: `knobs().lease_seconds` instead of `settings.COMMHUB["LEASE_SECONDS"]`.

The values live in `settings.COMMHUB` (commhub/settings/pipeline.py reads each from its environment variable
and documents it); this module gives them a type and a name the type checker knows. A knob missing from
either side fails at the first call: `Knobs(**...)` refuses unknown and missing fields.

The typed view is rebuilt only when `settings.COMMHUB` is replaced (tests do
`settings.COMMHUB = {**settings.COMMHUB, "KEY": value}`), so reading a knob costs an identity check.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Knobs:
    # the send path
    lease_seconds: int
    drain_batch_size: int
    drain_threads: int
    record_batch: int
    realtime_redis_url: str
    stream_max_seconds: float
    inbox_demo: bool
    inbox_event_retention_days: int
    record_wait_ms: float
    drain_time_budget_seconds: float
    esp_batch_size: int
    esp_batch_tiers: list[str]
    batch_max_items: int
    wakeup_coalesce_ms: float
    dispatch_due_interval_seconds: int
    sweep_interval_seconds: int
    stale_queued_seconds: int
    retry_countdown_max_seconds: int
    max_claims: int
    unknown_settle_seconds: int
    status_strict: bool
    # caches
    permission_cache_seconds: int
    catalogue_cache_seconds: float
    # compliance
    send_window_start: str
    send_window_end: str
    quiet_hours_channels: list[str] | None  # None: each channel's spec decides
    unknown_timezones: list[str]
    sms_help_reply: str
    unsubscribe_mailto: str
    # providers and limits
    breaker_failures: int
    breaker_open_seconds: float
    lean_http: bool
    rate_limit_redis_url: str
    type_rate_limits: bool
    sender_rates: dict[str, float]
    rate_critical_headroom: int
    rate_wait_inline_seconds: float
    # costs and reporting
    rollup_days: int
    rollup_interval_seconds: int
    rollup_overlap_seconds: int
    rollup_recount_interval_seconds: int
    queue_sample_interval_seconds: int
    retention_purge_interval_seconds: int
    events_deliver_interval_seconds: int
    calls_interval_seconds: int
    digest_interval_seconds: int
    broadcast_interval_seconds: int
    broadcast_inline_dry_run: int
    sample_retention_days: int
    capture_retention_days: int
    budget_alert_recipients: list[str]
    staff_email: str
    # operations
    metrics_cache_seconds: float
    heartbeat_seconds: float
    heartbeat_stale_seconds: float
    malloc_trim_seconds: float
    idempotency_ttl_hours: int
    recurring_grace_hours: float
    retention_days: int
    # templates
    template_render_seconds: float
    template_max_output_chars: int
    # API throttles
    throttle_sends: str
    throttle_organisation_sends: str
    throttle_client: str
    throttle_end_user: str
    throttle_anon: str
    throttle_login: str


_typed: tuple[dict[str, Any], Knobs] | None = None


def knobs() -> Knobs:
    """The current knobs (see the module docstring)."""
    global _typed
    raw = settings.COMMHUB
    cached = _typed
    if cached is None or cached[0] is not raw:
        cached = (raw, Knobs(**{name.lower(): value for name, value in raw.items()}))
        _typed = cached
    return cached[1]


_PERIODS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400}


@functools.lru_cache(maxsize=64)  # read on every API request; the knob's text rarely changes
def parse_rate(text: str) -> tuple[int, int] | None:
    """A throttle rate: '100/min' -> (100, 60); blank or '0/min' -> None (off). Settings check every rate when
    they load, so a malformed one stops the start rather than a request."""
    text = (text or "").strip()
    if not text:
        return None
    count, _, period = text.partition("/")
    seconds = _PERIODS.get(period.strip().lower())
    if not count.strip().isdigit() or seconds is None:
        raise ValueError(f"throttle rate {text!r} is not '<n>/<s|min|hour|day>'")
    return (int(count), seconds) if int(count) > 0 else None
