"""Single-send API benchmark: requests/s and p50/p99 latency at 10 connections (wrk), beside a baseline.

    python bench/api_single.py [--seconds 6] [--runs 5] [--connections 10] [--workers 4] [--threads 4]

One gunicorn (gthread, the production image's 4 workers x 4 threads, PostgreSQL, Redis broker) serves all three:
  * baseline  POST /bench/bare/                 a bare DRF ModelSerializer insert + Celery publish on commit
  * commhub   POST /api/v1/notifications/       validation, routing, template check, trace, cost estimate
  * contract  POST /api/communication/send      the seed contract over the same service
Endpoints alternate within each run (same server, same warm caches), medians over runs. Beside requests/s,
the CPU each request costs, summed over the server's processes (gunicorn's workers, their PostgreSQL
backends, Redis): a figure that survives a noisy machine. Every 2xx must have left exactly one row: the script
counts them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DB_NAME,
    CpuSampler,
    bench_env,
    children_of,
    cpu_busy,
    django_setup,
    free_port,
    fresh_database,
    log,
    manage,
    median,
    peak_rss_mb,
    save,
    start_gunicorn,
)

LUA = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
done = function(summary, latency, requests)
  io.write(string.format('\\nWRK_JSON {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, ' ..
    '"non2xx": %%d, "socket_errors": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk not found: installing it from Debian's packages")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("bench/api_single.py needs wrk (apt-get install wrk)")
    return path


def run_wrk(wrk: str, url: str, body: dict, token: str, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % {"body": json.dumps(body), "token": token})
        script = f.name
    out = subprocess.run(
        [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script).unlink()
    data = json.loads(re.search(r"WRK_JSON (\{.*\})", out).group(1))
    data["rps"] = data["requests"] / data["seconds"]
    return data


def _server_side(cmdline: str) -> bool:
    """The processes a request costs CPU in: gunicorn's, the PostgreSQL backends serving the benchmark's database
    and Redis (throttles and wake-ups on commhub's side, the Celery publish on the baseline's)."""
    return "commhub.wsgi" in cmdline or f" {DB_NAME} " in cmdline or cmdline.startswith("redis-server")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (the production image's 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (the production image's 4)")
    args = parser.parse_args()
    wrk = ensure_wrk()

    env = bench_env(JWT_ACCESS_MINUTES="240", ALLOWED_HOSTS="127.0.0.1,localhost")
    log("fresh database")
    fresh_database(env)
    out = manage(env, "create_api_client", "bench-client").stdout
    token = re.search(r"access:\s+(\S+)", out).group(1)
    django_setup(env)
    from bench.bareapi.models import BareNotification
    from notifications.models import Notification, NotificationType
    from preferences.models import Recipient

    recipient = Recipient.objects.get(external_id="123")
    alert = NotificationType.objects.get(key="financial_alert")
    data = {"amount": "$120.00", "account": "checking"}
    endpoints = {
        "baseline": (
            "/bench/bare/",
            {"recipient": recipient.pk, "notification_type": alert.pk, "channel": "sms", "data": data},
        ),
        "commhub": ("/api/v1/notifications/", {"recipient": "123", "type": "financial_alert", "data": data}),
        "contract": ("/api/communication/send", {"user_id": 123, "trigger_type": "financial_alert", "data": data}),
    }

    port = free_port()
    server = start_gunicorn(env, port, workers=args.workers, threads=args.threads)
    results: dict = {name: [] for name in endpoints}
    results.update(connections=args.connections, seconds=args.seconds, runs=args.runs, cpu_busy_before=[])
    try:
        for _name, (path, body) in endpoints.items():  # warm-up: connections, caches
            run_wrk(wrk, f"http://127.0.0.1:{port}{path}", body, token, 2, args.connections)
        for run in range(1, args.runs + 1):
            results["cpu_busy_before"].append(cpu_busy(0.5))
            for name, (path, body) in endpoints.items():
                with CpuSampler(_server_side) as cpu:
                    figure = run_wrk(wrk, f"http://127.0.0.1:{port}{path}", body, token, args.seconds, args.connections)
                figure["cpu_ms"] = 1000 * cpu.seconds / max(1, figure["requests"])
                results[name].append(figure)
                log(
                    f"run {run}/{args.runs} {name:8s}: {figure['rps']:7.0f} req/s  "
                    f"p50 {figure['p50_us'] / 1000:6.2f} ms  p99 {figure['p99_us'] / 1000:6.2f} ms  "
                    f"CPU {figure['cpu_ms']:5.2f} ms/request  "
                    f"non-2xx {figure['non2xx']}  socket errors {figure['socket_errors']}"
                )
        memory = peak_rss_mb([server.pid, *children_of(server.pid)])
    finally:
        server.terminate()
        server.wait(timeout=30)

    total_ok = {
        name: sum(r["requests"] - r["non2xx"] for r in runs) for name, runs in results.items() if name in endpoints
    }
    rows = {"baseline": BareNotification.objects.count(), "commhub+contract": Notification.objects.count()}
    # warm-up requests created rows too; every row must come from a 2xx, every measured 2xx must have a row
    ok = (
        rows["baseline"] >= total_ok["baseline"]
        and rows["commhub+contract"] >= total_ok["commhub"] + total_ok["contract"]
        and all(r["non2xx"] == 0 and r["socket_errors"] == 0 for name in endpoints for r in results[name])
    )
    summary = {}
    for name in endpoints:
        summary[name] = {
            "rps": median([r["rps"] for r in results[name]]),
            "p50_ms": median([r["p50_us"] / 1000 for r in results[name]]),
            "p99_ms": median([r["p99_us"] / 1000 for r in results[name]]),
            "cpu_ms_per_request": median([r["cpu_ms"] for r in results[name]]),
        }
    # Paired ratios: each run measures all endpoints back to back, so noise that lasts a run cancels out.
    for name in ("commhub", "contract"):
        summary[f"ratio_{name}_vs_baseline"] = median(
            [r["rps"] / b["rps"] for r, b in zip(results[name], results["baseline"], strict=True)]
        )
        summary[f"cpu_ratio_baseline_vs_{name}"] = median(
            [b["cpu_ms"] / r["cpu_ms"] for r, b in zip(results[name], results["baseline"], strict=True)]
        )
    summary["server_peak_rss_mb"] = memory
    summary["ok"] = ok
    results["summary"] = summary
    results["rows"] = rows
    save("api_single", results)
    print(
        f"=== single-send API (gunicorn gthread {args.workers}x{args.threads}, {args.connections} connections, "
        f"{args.seconds}s x {args.runs} interleaved runs, medians) ==="
    )
    for name in endpoints:
        s = summary[name]
        print(
            f"{name:9s} {endpoints[name][0]:28s} {s['rps']:7.0f} req/s   "
            f"p50 {s['p50_ms']:6.2f} ms   p99 {s['p99_ms']:6.2f} ms   CPU {s['cpu_ms_per_request']:5.2f} ms/request"
        )
    print(
        f"ratio     (median of per-run ratios) commhub / baseline = {summary['ratio_commhub_vs_baseline']:.2f}x, "
        f"contract / baseline = {summary['ratio_contract_vs_baseline']:.2f}x   (server peak RSS {memory:.0f} MB)"
    )
    print(
        f"CPU       (median of per-run ratios, server processes) commhub uses "
        f"{summary['cpu_ratio_baseline_vs_commhub']:.2f}x less than baseline per request, "
        f"contract {summary['cpu_ratio_baseline_vs_contract']:.2f}x less"
    )
    print(f"check: no non-2xx, no socket errors, every 2xx left a row: {'OK' if ok else 'FAIL'}  {rows}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
