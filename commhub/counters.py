"""Prometheus counters, counted where it happens, in whichever process it happens: API requests in the web
processes, provider calls and their latency in the workers.

prometheus-client's multiprocess mode: every process writes to PROMETHEUS_MULTIPROC_DIR (default:
$COMMHUB_DATA_DIR/metrics) and a scrape adds them up. One directory per host: on several worker hosts, run
`manage.py serve_metrics` beside each worker and scrape that too. (The gauges read from the database at scrape
time are analytics.gauges; GET /metrics is commhub.metrics.)
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

API_REQUESTS = Counter(
    "commhub_api_requests", "HTTP requests served, by method, route and status.", ["method", "route", "status"]
)
PROVIDER_SECONDS = Histogram(
    "commhub_provider_seconds",
    "Provider call latency (one send), by provider and channel.",
    ["provider", "channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROVIDER_ERRORS = Counter(
    "commhub_provider_errors",
    "Provider calls that failed, by provider, channel, kind and code.",
    ["provider", "channel", "kind", "code"],
)
SENDS = Counter("commhub_sends", "Messages a provider accepted, by provider and channel.", ["provider", "channel"])


def counters_registry() -> CollectorRegistry:
    """A fresh registry summing every process's counter files (settings always set PROMETHEUS_MULTIPROC_DIR)."""
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    return reg


class RequestMetricsMiddleware:
    """Counts every HTTP request by method, URL route (not the raw path: ids would explode the labels) and status."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        API_REQUESTS.labels(request.method, route[:100], str(response.status_code)).inc()
        return response
