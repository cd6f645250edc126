"""Priority under a backlog: critical alerts submitted while a large bulk backlog drains.

    python bench/priority_backlog.py [--bulk 50000] [--critical 50] [--every 0.2]

A fresh database gets `--bulk` queued marketing emails (education tier, distinct consenting recipients, ESP
batch sending on unless `--esp-batch-size 0`, commhub's fake Mailgun). One real `celery worker -c 2` serving
every queue starts; as soon as it has handed its first bulk email to the provider, `--critical` financial alerts
(SMS, critical tier) are submitted through the service one every `--every` seconds. For each alert: accept (the
submit returned) -> provider call (its attempt's start, stamped just before the provider is called). Reports
p50/p95/max and how many bulk emails had not yet been handed to the provider (no attempt started) when the first
alert was accepted and when the last alert's provider call started.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, save, start_worker
from bench.drain import fresh_backlog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--critical", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.2)
    parser.add_argument(
        "--esp-batch-size", type=int, default=500, help="the worker's COMMHUB_ESP_BATCH_SIZE (0: one email per call)"
    )
    args = parser.parse_args()

    esp, env = fresh_backlog(args.bulk)
    env["COMMHUB_ESP_BATCH_SIZE"] = str(args.esp_batch_size)
    from django.db.models import Min

    from notifications.models import DeliveryAttempt, Notification
    from notifications.services import SubmitRequest, notification_submit

    worker = start_worker(env, queues=None, name="bench-priority@%h")
    try:
        while not DeliveryAttempt.objects.exists():  # the worker is draining the backlog
            time.sleep(0.01)
        bulk = Notification.objects.filter(notification_type__key="educational_content")
        waiting_first = bulk.exclude(pk__in=DeliveryAttempt.objects.values("notification_id")).count()
        accepted = {}
        for i in range(args.critical):
            alert = {"amount": f"${i}", "account": "checking"}
            n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", channel="sms", data=alert))
            accepted[n.pk] = n.created_at
            time.sleep(args.every)
        critical = Notification.objects.filter(pk__in=accepted)
        deadline = time.monotonic() + 60
        while critical.filter(status="sent").count() < args.critical and time.monotonic() < deadline:
            time.sleep(0.02)
        called = dict(
            DeliveryAttempt.objects.filter(notification_id__in=accepted)
            .values("notification_id")
            .annotate(first=Min("started_at"))
            .values_list("notification_id", "first")
        )
        last_call = max(called.values(), default=None)
        waiting = None
        if last_call is not None:
            handed = DeliveryAttempt.objects.filter(notification__in=bulk, started_at__lte=last_call)
            waiting = args.bulk - handed.values("notification_id").distinct().count()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        esp.stop()
    latencies = sorted((called[pk] - at).total_seconds() for pk, at in accepted.items() if pk in called)
    missing = args.critical - len(latencies)
    result = {
        "bulk": args.bulk,
        "esp_batch_size": args.esp_batch_size,
        "critical": args.critical,
        "every_s": args.every,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies) if latencies else float("nan"),
        "bulk_waiting_first_accept": waiting_first,
        "bulk_waiting": waiting,
        "critical_not_sent": missing,
    }
    save("priority_backlog", result)
    print(
        f"=== priority under a backlog ({args.bulk} bulk emails queued, ESP batch size {args.esp_batch_size}, "
        f"{args.critical} critical SMS every {args.every}s) ==="
    )
    print(
        f"critical accept -> provider call: p50 {result['p50_s']:.3f}s, p95 {result['p95_s']:.3f}s, "
        f"max {result['max_s']:.3f}s; {missing} not sent within 60 s"
    )
    print(
        f"bulk emails not yet handed to the provider: {waiting_first} when the first alert was accepted, "
        f"{waiting} when the last alert's provider call started"
    )
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
