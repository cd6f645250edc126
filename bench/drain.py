"""Drain benchmark: queued emails sent through anymail's Mailgun backend to a local fake ESP.

    python bench/drain.py [--n 5000] [--runs 3] [--threads 8] [--concurrency 2] [--modes drain_queue,worker]
                          [--esp mailgun|postmark|sendgrid]

Two ways of draining the same N queued notifications (fresh queue each run, PostgreSQL):
  * `manage.py drain_queue`: one process, in-process time (as the peer's `send_queued_mail` figure);
  * a real `celery worker -c N` (prefork, --concurrency) from "ready" until the last row is sent.
Each run checks that the fake ESP received exactly N requests and that every row ended `sent`.
The baseline, django-post_office's `send_queued_mail` to the same kind of fake, comes from
../shared/peers/post_office_bench.sh (bench/run_all.sh runs it right after this script).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DB_NAME,
    ROOT,
    CpuSampler,
    FakeEsp,
    bench_env,
    children_of,
    cpu_busy,
    django_setup,
    fresh_database,
    log,
    median,
    peak_rss_mb,
    save,
    start_worker,
)


def reset_queue() -> None:
    import redis
    from django.conf import settings
    from django.db import connection

    from costs.models import CostEntry
    from notifications.models import CapturedMessage, DeliveryAttempt, Notification

    tables = ", ".join(model._meta.db_table for model in (Notification, DeliveryAttempt, CostEntry, CapturedMessage))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")  # table names from model metadata, not input
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def readers(n: int) -> None:
    """`n` recipients who agreed to marketing email (an ESP batch carries one message per address, so a
    benchmark that sends everything to one address measures the per-message path only)."""
    from django.utils import timezone

    from preferences.models import ConsentAction, ConsentRecord, ConsentSource, Recipient

    existing = Recipient.objects.filter(external_id__startswith="bench-reader-").count()
    if existing >= n:
        return
    people = Recipient.objects.bulk_create(
        Recipient(
            external_id=f"bench-reader-{i}",
            email=f"reader-{i}@bench.example.com",
            timezone="Europe/London",
            locale="en",
            attributes={"first_name": f"Reader {i}"},
        )
        for i in range(existing, n)
    )
    now = timezone.now()
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            recipient=person,
            channel="email",
            purpose="marketing",
            category="",
            action=ConsentAction.GRANTED,
            source=ConsentSource.API,
            consent_text="Send me lessons.",
            actor="bench",
            created_at=now,
        )
        for person in people
    )


def fresh_backlog(n: int) -> tuple[FakeEsp, dict[str, str]]:
    """A fresh database with `n` consenting recipients and `n` queued marketing emails, and commhub's fake
    Mailgun (batch form) for them; Django set up in this process."""
    esp = FakeEsp(batch=True)
    env = bench_env(**esp.email_env())
    log(f"fresh database; {n} recipients and queued emails; fake ESP {esp.kind}")
    fresh_database(env)
    django_setup(env)
    readers(n)
    reset_queue()
    esp.reset()
    ingest(n)
    return esp, env


def ingest(n: int) -> float:
    from notifications.services import SubmitRequest, notifications_submit_batch

    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        items = [
            SubmitRequest(
                recipient=f"bench-reader-{i}",
                type="educational_content",
                data={"title": f"Lesson {i}", "summary": "Budgeting basics, part one.", "url": "https://example.com"},
            )
            for i in range(start, min(n, start + 1000))
        ]
        results = notifications_submit_batch(items)
        assert all(r.ok for r in results)
    return time.perf_counter() - t0


def all_sent(n: int) -> bool:
    from notifications.models import Notification

    return Notification.objects.filter(status="sent").count() == n


def verify(n: int, esp: FakeEsp) -> tuple[bool, str]:
    from django.db.models import Count

    from notifications.models import Notification

    by_status = dict(Notification.objects.values_list("status").annotate(c=Count("pk")).order_by())
    without_id = Notification.objects.filter(provider_message_id="").count()
    count = esp.count()
    ok = by_status == {"sent": n} and (count is None or count == n) and without_id == 0
    return ok, f"rows {by_status}, {without_id} without a provider id, fake ESP count {count}"


def run_drain_queue(env: dict, n: int) -> dict:
    result = subprocess.run(
        [sys.executable, "manage.py", "drain_queue", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    match = re.search(r"(\d+) processed in ([\d.]+)s", result.stdout)
    if result.returncode != 0 or not match:
        raise SystemExit(f"drain_queue failed:\n{result.stdout}\n{result.stderr}")
    seconds = float(match.group(2))
    return {"rate": int(match.group(1)) / seconds, "seconds": seconds}


def run_worker(
    env: dict, n: int, concurrency: int, queues: tuple[str, ...] = ("maintenance", "email_education")
) -> dict:
    worker = start_worker(env, queues=list(queues), name="bench@%h", concurrency=concurrency)
    try:
        t0 = time.perf_counter()
        with (
            CpuSampler(lambda cmd: "celery" in cmd and "bench@" in cmd) as workers_cpu,
            CpuSampler(lambda cmd: cmd.startswith("postgres: ") and f" {DB_NAME} " in cmd) as database_cpu,
        ):
            while not all_sent(n):
                if time.perf_counter() - t0 > 600:
                    raise SystemExit("worker did not drain the queue within 10 minutes")
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
        memory = peak_rss_mb([worker.pid, *children_of(worker.pid)])
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {
        "rate": n / seconds,
        "seconds": seconds,
        "peak_rss_mb": memory,
        # CPU per message: the worker processes, and the PostgreSQL backends serving them
        "cpu_ms_per_message": 1000 * (workers_cpu.seconds + database_cpu.seconds) / n,
        "worker_cpu_ms_per_message": 1000 * workers_cpu.seconds / n,
        "database_cpu_ms_per_message": 1000 * database_cpu.seconds / n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="COMMHUB_DRAIN_THREADS, sender threads per process (default: commhub's default, 8)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (celery worker -c)")
    parser.add_argument("--modes", default="drain_queue,worker", help="comma-separated: drain_queue, worker")
    parser.add_argument(
        "--esp",
        default="mailgun",
        choices=("mailgun", "postmark", "sendgrid"),
        help="anymail backend and fake API to send to",
    )
    args = parser.parse_args()

    batching = os.environ.get("COMMHUB_ESP_BATCH_SIZE", "500") not in ("0", "1")
    esp = FakeEsp(batch=batching, esp=args.esp)
    env = bench_env(COMMHUB_DRAIN_THREADS=str(args.threads), **esp.email_env())
    log(f"fresh database; fake ESP: {esp.kind} at {esp.url}")
    fresh_database(env)
    django_setup(env)
    readers(args.n)
    from django.db import connection

    results: dict = {
        "n": args.n,
        "runs": args.runs,
        "threads": args.threads,
        "concurrency": args.concurrency,
        "esp": f"{args.esp} via {esp.kind}",
        "esp_batching": batching,
        "database": f"PostgreSQL {connection.cursor().connection.info.server_version // 10000}",
        "drain_queue": [],
        "worker": [],
        "ingest_service": [],
        "checks": [],
        "cpu_busy_before": [],
    }
    try:
        for run in range(1, args.runs + 1):
            for mode in args.modes.split(","):
                reset_queue()
                esp.reset()
                results["cpu_busy_before"].append(cpu_busy(0.5))
                t_ingest = ingest(args.n)
                results["ingest_service"].append(args.n / t_ingest)
                if mode == "drain_queue":
                    figure = run_drain_queue(env, args.n)
                else:
                    figure = run_worker(env, args.n, args.concurrency)
                ok, detail = verify(args.n, esp)
                results["checks"].append(ok)
                results[mode].append(figure)
                log(
                    f"run {run}/{args.runs} {mode:11s}: {figure['rate']:7.0f}/s ({figure['seconds']:.2f}s) | "
                    f"ingest {args.n / t_ingest:.0f}/s | {detail} -> {'OK' if ok else 'FAIL'}"
                )
    finally:
        esp.stop()

    dq = [r["rate"] for r in results["drain_queue"]]
    wk = [r["rate"] for r in results["worker"]]
    results["summary"] = {
        "drain_queue_per_s": median(dq),
        "worker_per_s": median(wk),
        "worker_peak_rss_mb": max((r["peak_rss_mb"] for r in results["worker"]), default=float("nan")),
        "worker_cpu_ms_per_message": median([r["cpu_ms_per_message"] for r in results["worker"]]),
        "ingest_service_per_s": median(results["ingest_service"]),
        "ok": all(results["checks"]),
    }
    save("drain", results)
    s = results["summary"]
    mode = "ESP batch sending on" if batching else "one message per ESP call"
    print(
        f"=== commhub drain (N={args.n}, {args.runs} runs, {results['database']}, {args.threads} sender threads, "
        f"{args.esp}, {mode}) ==="
    )
    if dq:
        print(
            f"drain_queue, 1 process (in-process time)   {s['drain_queue_per_s']:7.0f} notifications/s  "
            f"[runs: {', '.join(f'{x:.0f}' for x in dq)}]"
        )
    if wk:
        print(
            f"celery worker -c {args.concurrency} (ready -> last sent)     {s['worker_per_s']:7.0f} notifications/s  "
            f"[runs: {', '.join(f'{x:.0f}' for x in wk)}]  peak RSS {s['worker_peak_rss_mb']:.0f} MB (all processes); "
            f"CPU {s['worker_cpu_ms_per_message']:.2f} ms/message (workers + their PostgreSQL backends)"
        )
    print(f"batch submit (service, 1000 per batch)      {s['ingest_service_per_s']:7.0f} notifications/s")
    print(
        "check: every row sent with its provider id and the fake ESP saw exactly N recipients, every run: "
        f"{'OK' if s['ok'] else 'FAIL'}"
    )
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
