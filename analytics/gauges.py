"""Prometheus gauges read from the database at scrape time (cached COMMHUB_METRICS_CACHE_SECONDS): notifications
by status x channel x type, queue depth per queue, cost per channel and currency, worker heartbeats.

Nothing here scans the notifications table: final statuses and cost come from the rollups (as of the last
incremental pass, at most COMMHUB_ROLLUP_INTERVAL old), the statuses not final yet are counted live through
the status index (a handful of rows, or a backlog: what an operator wants to see now)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from django.db.models import Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from analytics.rollups.contributions import STATUS_COUNT
from commhub.conf import knobs
from notifications.models import NotificationType, WorkerHeartbeat

from .maintenance import queue_depths, unfinished
from .models import DailyRollup

ROLLED_STATUS = {str(status): column for status, column in STATUS_COUNT.items()}  # final, and `sent`


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
        rolled = DailyRollup.objects.values("channel", "notification_type_id").annotate(
            **{column: Sum(column) for column in ROLLED_STATUS.values()}
        )
        for row in rolled:
            for status, column in ROLLED_STATUS.items():
                if row[column]:
                    by_status.add_metric(
                        [status, row["channel"], keys.get(row["notification_type_id"], "?")], row[column]
                    )
        rows = unfinished(now=timezone.now())
        live: dict[tuple, int] = defaultdict(int)
        for row in rows:
            live[(row["status"], row["channel"], row["notification_type_id"])] += row["n"]
        for (status, channel, type_id), n in live.items():
            by_status.add_metric([status, channel, keys.get(type_id, "?")], n)
        depth = GaugeMetricFamily(
            "commhub_queue_depth", "Rows per queue: ready, waiting for a time, being sent.", labels=["queue", "state"]
        )
        for queue, states in queue_depths(now=timezone.now(), rows=rows).items():
            for state, n in states.items():
                depth.add_metric([queue, state], n)
        cost = CounterMetricFamily(
            "commhub_cost",
            "What sent messages cost (the ledger), by channel and currency.",
            labels=["channel", "currency"],
        )
        for row in DailyRollup.objects.values("channel", "currency").annotate(total=Sum("cost")):
            cost.add_metric([row["channel"], row["currency"]], float(row["total"]))
        heartbeat = GaugeMetricFamily(
            "commhub_worker_heartbeat_age_seconds", "Seconds since each worker last reported.", labels=["worker"]
        )
        now = timezone.now()
        for name, seen in WorkerHeartbeat.objects.values_list("name", "last_seen"):
            heartbeat.add_metric([name], (now - seen).total_seconds())
        return [by_status, depth, cost, heartbeat]


database_gauges = DatabaseCollector()
