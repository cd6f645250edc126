"""Health checks, one per question an operator's tooling asks:

/health/live   the process answers (a liveness probe: restart it when this fails)
/health/ready  it can serve: the database and the broker answer (a load balancer's and Kubernetes' readiness
               probe: no worker is needed to accept and store a notification, so a worker restart does not take
               the web nodes out of rotation)
/health        everything, workers' heartbeats included (monitoring and alerting)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from commhub.celery import app
from commhub.conf import knobs
from commhub.metrics import operator_allowed
from notifications.models import WorkerHeartbeat


@dataclass
class Check:
    ok: bool
    detail: str = ""
    ms: float = 0.0


@dataclass
class HealthReport:
    checks: dict[str, Check] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())


def _timed(fn) -> Check:
    t0 = time.perf_counter()
    try:
        detail = fn() or "ok"
        ok = True
    except Exception as exc:  # a health check reports failures, it does not raise them
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(ok=ok, detail=str(detail)[:300], ms=round((time.perf_counter() - t0) * 1000, 1))


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
        return conn.as_uri()


def _workers() -> str:

    stale = knobs().heartbeat_stale_seconds
    now = timezone.now()
    seen = list(WorkerHeartbeat.objects.order_by("-last_seen").values_list("name", "last_seen"))
    alive = [name for name, last in seen if (now - last).total_seconds() <= stale]
    if not alive:
        last = f"; last heartbeat {seen[0][0]} at {seen[0][1]:%Y-%m-%d %H:%M:%S} UTC" if seen else ""
        raise RuntimeError(f"no worker reported in the last {stale:g}s{last}")
    return f"{len(alive)} alive: {', '.join(alive[:5])}"


def health_report(*, workers: bool = True) -> HealthReport:
    checks = {"database": _timed(_database), "broker": _timed(_broker)}
    if workers:
        checks["workers"] = _timed(_workers)
    return HealthReport(checks=checks)


def live_view(request) -> JsonResponse:
    """GET /health/live: the process answers; nothing else is asked."""
    return JsonResponse({"status": "ok", "timestamp": timezone.now().isoformat()})


def ready_view(request) -> JsonResponse:
    """GET /health/ready: 200 when the database and the broker answer, 503 naming the one that does not."""
    return _answer(request, health_report(workers=False))


def health_view(request) -> JsonResponse:
    """GET /health: 200 when every dependency answers, workers included, 503 naming the one that does not. What
    each check saw (the broker's address, worker host names, timings) only with the metrics token."""
    return _answer(request, health_report())


def _answer(request, report: HealthReport) -> JsonResponse:
    detailed = operator_allowed(request)
    checks = {
        name: {"ok": c.ok, "detail": c.detail, "ms": c.ms} if detailed else {"ok": c.ok}
        for name, c in report.checks.items()
    }
    return JsonResponse(
        {"status": "ok" if report.ok else "unavailable", "checks": checks, "timestamp": timezone.now().isoformat()},
        status=200 if report.ok else 503,
    )
