"""GET /metrics: the counters every process wrote (commhub.counters) and the database gauges (analytics.gauges),
in the Prometheus text format.

Access: the bearer token METRICS_TOKEN; without one, nobody unless METRICS_OPEN=true (the loopback address is
not trusted: behind a proxy on the same host every caller has it).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from analytics.gauges import database_gauges
from commhub import tenancy
from commhub.counters import counters_registry


def operator_allowed(request: HttpRequest) -> bool:
    """Whether `request` may read operational detail (metrics, /health's details)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, f"Bearer {token}".encode())  # bytes: a non-ASCII header is no TypeError
    return settings.METRICS_OPEN


@tenancy.every_organisation  # the operator's view of the whole hub (behind METRICS_TOKEN)
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in the Prometheus text format (see the module docstring for who may read it)."""
    if not operator_allowed(request):
        return HttpResponse(
            "metrics: set METRICS_TOKEN and send it as a bearer token (or METRICS_OPEN=true)\n", status=403
        )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _registry():
    registry = counters_registry()
    registry.register(database_gauges)
    return registry
