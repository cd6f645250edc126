"""Prometheus metrics: GET /metrics.

Two sources, one page:

* Counted where it happens, in whichever process it happens (API requests in the web processes, provider
  calls and their latency in the workers): prometheus-client's multiprocess mode, every process writing to
  PROMETHEUS_MULTIPROC_DIR (default: $COMMHUB_DATA_DIR/metrics) and /metrics adding them up. One directory
  per host: on several worker hosts, run `manage.py serve_metrics` beside each worker and scrape that too.
* Read from the database at scrape time (cached COMMHUB_METRICS_CACHE_SECONDS): notifications by status x
  channel x type, queue depth per queue, cost per channel and currency, worker heartbeats. These are the
  queue of record itself, so they match what the admin and the API say.

Access: a bearer token (METRICS_TOKEN) when set; otherwise only from the loopback address.
"""

from __future__ import annotations

import os
import threading
import time
from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from commhub.conf import knobs

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


class DatabaseCollector:
    """Gauges read from the queue of record, cached briefly so a busy scraper does not become the load."""

    def __init__(self) -> None:
        self._cache: tuple[float, list] | None = None
        self._lock = threading.Lock()

    def collect(self):
        ttl = knobs().metrics_cache_seconds
        with self._lock:
            if self._cache is None or time.monotonic() - self._cache[0] > ttl:
                self._cache = (time.monotonic(), self._read())
            return list(self._cache[1])

    def _read(self) -> list:
        from django.db.models import Count, Sum
        from django.utils import timezone

        from analytics.maintenance import queue_depths
        from analytics.models import CostEntry
        from notifications.models import Notification, NotificationType, WorkerHeartbeat

        keys = dict(NotificationType.objects.values_list("pk", "key"))
        by_status = GaugeMetricFamily(
            "commhub_notifications", "Notifications by status, channel and type.", labels=["status", "channel", "type"]
        )
        for row in Notification.objects.values("status", "channel", "notification_type_id").annotate(n=Count("pk")):
            by_status.add_metric([row["status"], row["channel"], keys.get(row["notification_type_id"], "?")], row["n"])
        depth = GaugeMetricFamily(
            "commhub_queue_depth", "Rows per queue: ready, waiting for a time, being sent.", labels=["queue", "state"]
        )
        for queue, states in queue_depths(now=timezone.now()).items():
            for state, n in states.items():
                depth.add_metric([queue, state], n)
        cost = CounterMetricFamily(
            "commhub_cost",
            "What sent messages cost (the ledger), by channel and currency.",
            labels=["channel", "currency"],
        )
        for row in CostEntry.objects.values("channel", "currency").annotate(total=Sum("amount")):
            cost.add_metric([row["channel"], row["currency"]], float(row["total"]))
        heartbeat = GaugeMetricFamily(
            "commhub_worker_heartbeat_age_seconds", "Seconds since each worker last reported.", labels=["worker"]
        )
        now = timezone.now()
        for name, seen in WorkerHeartbeat.objects.values_list("name", "last_seen"):
            heartbeat.add_metric([name], (now - seen).total_seconds())
        return [by_status, depth, cost, heartbeat]


_database = DatabaseCollector()


def registry(*, with_database: bool = True) -> CollectorRegistry:
    """A fresh registry summing every process's files (settings always set PROMETHEUS_MULTIPROC_DIR)."""
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if with_database:
        reg.register(_database)
    return reg


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
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


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
