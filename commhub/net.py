"""The caller's address, for throttles, lockouts and the audit trail; what a server's Retry-After asks.

Behind TRUSTED_PROXY_COUNT proxies (a load balancer, nginx), REMOTE_ADDR is the nearest proxy's: the caller is
the address that many hops from the right of X-Forwarded-For, the part no caller can forge (anything further
left is whatever the client sent). With no proxy configured the header is ignored.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from django.conf import settings


def client_address(request: Any) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR") or ""
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
            try:
                return str(ip_address(candidate))
            except ValueError:
                return remote
    return remote


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds; None when absent or an HTTP date (the caller's own backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
