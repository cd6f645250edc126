"""Prometheus gauges read from the database at scrape time (cached COMMHUB_METRICS_CACHE_SECONDS): notifications
by status x channel x type, queue depth per queue, cost per channel and currency, worker heartbeats. These are
the queue of record itself, so they match what the admin and the API say."""

from __future__ import annotations

import threading
import time

from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from commhub.conf import knobs
from costs.models import CostEntry
from notifications.models import Notification, NotificationType, WorkerHeartbeat

from .maintenance import queue_depths


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


database_gauges = DatabaseCollector()
