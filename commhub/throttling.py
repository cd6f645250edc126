"""API throttles: DRF throttle classes deciding through commhub's shared rate-limit store.

The store is the one the send path's limits use (notifications.ratelimit: one Lua script on Redis, one
transaction on the database in the embedded mode), so a throttle holds across every gunicorn worker and host,
and one request costs one round trip. Each throttle is a token bucket: up to `n` at once, refilled at `n` per
period. A refusal is DRF's 429 with `Retry-After` (the seconds until the bucket has room).

    every API view   per client (service account or staff user), per end user on /me/, per address for
                     anonymous callers
    "sends" scope    the send endpoints: notifications per client and per organisation (both must have room), a
                     batch counting its items
    "login" scope    /api/token/ and its refresh: per address (each wrong password costs ~0.4 s of hashing)

Wrong passwords are counted apart from these (django-axes: a lockout after COMMHUB_LOGIN_FAILURE_LIMIT).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from rest_framework.throttling import BaseThrottle

from commhub import tenancy
from commhub.conf import knobs, parse_rate
from commhub.net import client_address
from notifications.ratelimit import Rate, limiter

logger = logging.getLogger(__name__)


def _caller(request: Any) -> tuple[str, str]:
    user = request.user
    if getattr(user, "is_authenticated", False):
        external_id = getattr(user, "external_id", None)
        if external_id is not None:  # an end user (commhub.enduser): ids are unique per organisation
            return "throttle_end_user", f"user:{getattr(user, 'organisation_id', '')}:{external_id}"
        return "throttle_client", f"client:{user.pk}"
    return "throttle_anon", f"ip:{_address(request)}"


_last_warning = 0.0


def _store_unavailable(exc: Exception) -> None:
    """Throttles fail open: an outage of the rate-limit store must not turn every API request into a 500 (the
    sends are committed rows; the throttle protects capacity, not correctness). Logged at most once a minute."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        logger.warning("API throttles are off while the rate-limit store is unavailable: %s", exc)


def _address(request: Any) -> str:
    return client_address(request) or "unknown"


def _bucket(knob: str, key: str) -> Rate | None:
    rate = parse_rate(getattr(knobs(), knob))
    if rate is None:
        return None
    count, seconds = rate
    return Rate(key=f"api:{key}", per_second=count / seconds, label=f"{knob} {count}/{seconds}s", burst=count)


class ApiThrottle(BaseThrottle):
    """Every API view's throttle. A view's `throttle_scope` picks another bucket: "sends" (notifications per
    client, a batch counting its items) or "login" (per address)."""

    def __init__(self) -> None:
        self._wait = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        knob, key = self.bucket(request, view)
        buckets = [b for b in (_bucket(knob, key), self.organisation_bucket(knob)) if b is not None]
        if not buckets:
            return True
        units = self.units(request) if knob == "throttle_sends" else 1
        try:
            grant = limiter().acquire(common=buckets, choices=[], units=units)
        except Exception as exc:  # the store is down (Redis, a locked SQLite): serve, do not fail every request
            _store_unavailable(exc)
            return True
        self._wait = grant.wait
        return grant.allowed

    def organisation_bucket(self, knob: str) -> Rate | None:
        """A send also draws from its organisation's bucket (every client of the organisation together)."""
        organisation = tenancy.current_organisation_id()
        if knob != "throttle_sends" or organisation is None:
            return None
        return _bucket("throttle_organisation_sends", f"organisation-sends:{organisation}")

    def wait(self) -> float | None:
        return max(1.0, self._wait)

    def bucket(self, request: Any, view: Any) -> tuple[str, str]:
        """(knob, key): the rate and the bucket this request draws from."""
        scope = getattr(view, "throttle_scope", None)
        if scope == "login":
            return "throttle_login", f"login:{_address(request)}"
        knob, key = _caller(request)
        if scope == "sends" and knob == "throttle_client":
            return "throttle_sends", f"sends:{request.user.pk}"
        return knob, key

    def units(self, request: Any) -> int:
        """A batch draws one unit per item from the sends bucket."""
        if not (request.content_type or "").startswith("application/json"):
            return 1
        data = request.data
        if isinstance(data, dict):
            items = data.get("notifications", data.get("communications"))
            if isinstance(items, list):
                return max(1, len(items))
        return 1


def lockout_seconds() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(request: Any, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """A login past the failure limit (django-axes' AXES_LOCKOUT_CALLABLE, and the token view): 429, with
    `Retry-After` the lockout's length; JSON on the API, plain text on the admin."""
    detail = f"Too many failed logins: locked out for {lockout_seconds() // 60} minutes (staff can lift it sooner)."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": detail, "code": "locked_out"}, status=429)
    else:
        response = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(lockout_seconds())
    return response
