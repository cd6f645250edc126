"""GET /metrics: the counters every process wrote (commhub.counters) and the database gauges (analytics.gauges),
in the Prometheus text format.

Access: a bearer token (METRICS_TOKEN) when set; otherwise only from the loopback address.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from analytics.gauges import database_gauges
from commhub.counters import counters_registry


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        return request.headers.get("Authorization", "") == f"Bearer {token}"
    try:
        return ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format (see the module docstring for who may read it)."""
    if not _allowed(request):
        return HttpResponse("metrics: set METRICS_TOKEN and send it as a bearer token\n", status=403)
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _registry():
    registry = counters_registry()
    registry.register(database_gauges)
    return registry
