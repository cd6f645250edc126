"""Batch ingest benchmark: notifications/s accepted through the batch endpoints, beside baselines.

    python bench/batch_ingest.py [--batches 20] [--size 1000] [--clients 2]

One gunicorn (gthread 2x5, PostgreSQL, Redis broker). Each client posts `--batches` batches of `--size`
notifications (one each to `--size` distinct recipients, the same alert data), back to back:
  * commhub   POST /api/v1/notifications/batch/     (per-item validation, one bulk insert, one kick per queue)
  * contract  POST /api/communication/batch         (the seed contract over the same service)
Baselines measured in the same run:
  * insert floor: Django bulk_create of the same number of bare rows, in-process, one transaction per batch
    (what storing the rows costs with no validation, no HTTP, no JSON);
  * single sends: the /api/v1/notifications/ endpoint driven one request per notification (2 clients).
Each accepted item must have left exactly one row.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_env,
    children_of,
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

DATA = {"amount": "$120.00", "account": "checking"}
FIRST_ID = 500_000  # the benchmark's recipients: 500000, 500001, ...


def post_many(
    port: int, token: str, path: str, bodies: list[bytes], clients: int, *, keep_alive: bool = True
) -> tuple[float, list[dict]]:
    """POST every body (split across `clients`); returns wall seconds and replies. Without `keep_alive` each
    request opens its own connection: gunicorn's workers race to accept each one, as behind a load balancer,
    where two keep-alive connections can both stick to one worker process and leave the other core idle."""
    replies: list[dict] = []
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in share:
            conn.request("POST", path, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"{}")
            with lock:
                replies.append({"status": response.status, "body": payload})
            if not keep_alive:
                conn.close()
        conn.close()

    shares = [bodies[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, replies


def insert_floor(batches: int, size: int) -> float:
    from django.db import transaction

    from bench.bareapi.models import BareNotification
    from notifications.models import NotificationType
    from preferences.models import Recipient

    recipient = Recipient.objects.get(external_id="123")
    alert = NotificationType.objects.get(key="financial_alert")
    t0 = time.perf_counter()
    for _ in range(batches):
        with transaction.atomic():
            BareNotification.objects.bulk_create(
                [
                    BareNotification(recipient=recipient, notification_type=alert, channel="sms", data=DATA)
                    for _ in range(size)
                ]
            )
    return batches * size / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="batches per endpoint (split across clients)")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--singles", type=int, default=2000, help="single sends for the single-send comparison")
    args = parser.parse_args()

    env = bench_env(
        JWT_ACCESS_MINUTES="240", ALLOWED_HOSTS="127.0.0.1,localhost", COMMHUB_BATCH_MAX_ITEMS=str(max(1000, args.size))
    )
    log("fresh database")
    fresh_database(env)
    token = re.search(r"access:\s+(\S+)", manage(env, "create_api_client", "bench-client").stdout).group(1)
    django_setup(env)
    from notifications.models import Notification

    # each batch addresses `size` distinct recipients (as a product's fan-out does), each with a phone and email
    from preferences.models import Recipient

    Recipient.objects.bulk_create(
        [
            Recipient(external_id=str(FIRST_ID + i), phone=f"+1415{FIRST_ID + i:07d}", email=f"r{i}@example.com")
            for i in range(args.size)
        ]
    )
    v1_items = [{"recipient": str(FIRST_ID + i), "type": "financial_alert", "data": DATA} for i in range(args.size)]
    contract_items = [
        {"user_id": FIRST_ID + i, "trigger_type": "financial_alert", "data": DATA} for i in range(args.size)
    ]
    v1_body = json.dumps({"notifications": v1_items}).encode()
    contract_body = json.dumps({"communications": contract_items}).encode()
    v1_item = v1_items[0]

    port = free_port()
    server = start_gunicorn(env, port)
    results: dict = {"size": args.size, "batches": args.batches, "clients": args.clients}
    try:
        for path, body in (("/api/v1/notifications/batch/", v1_body), ("/api/communication/batch", contract_body)):
            # warm-up: connections, caches, table statistics, in every server process (a new connection per
            # request, as in the rounds: whichever process accepts it serves it, so a few of them reach both)
            post_many(port, token, path, [body] * 4 * args.clients, args.clients, keep_alive=False)
        # Alternate the two endpoints in rounds, so a slow minute on this shared machine hits both.
        endpoints = {
            "commhub": ("/api/v1/notifications/batch/", v1_body, "accepted"),
            "contract": ("/api/communication/batch", contract_body, "successful"),
        }
        rounds = 3
        per_round = max(1, args.batches // rounds)
        for key in endpoints:
            results[key] = {"seconds": 0.0, "accepted": 0, "rows": 0}
        for number in range(1, rounds + 1):
            for key, (path, body, field) in endpoints.items():
                before = Notification.objects.count()
                seconds, replies = post_many(port, token, path, [body] * per_round, args.clients, keep_alive=False)
                accepted = sum(r["body"]["summary"][field] for r in replies if r["status"] == 200)
                entry = results[key]
                entry["seconds"] += seconds
                entry["accepted"] += accepted
                entry["rows"] += Notification.objects.count() - before
                log(f"round {number}/{rounds} {path}: {accepted} in {seconds:.2f}s = {accepted / seconds:.0f}/s")
        for key in endpoints:
            results[key]["per_s"] = results[key]["accepted"] / results[key]["seconds"]

        single = json.dumps(v1_item).encode()
        before = Notification.objects.count()
        seconds, replies = post_many(port, token, "/api/v1/notifications/", [single] * args.singles, args.clients)
        ok = sum(r["status"] == 202 for r in replies)
        results["single_sends"] = {
            "per_s": ok / seconds,
            "seconds": seconds,
            "accepted": ok,
            "rows": Notification.objects.count() - before,
        }
        log(f"single sends: {ok} in {seconds:.2f}s = {ok / seconds:.0f}/s")
        memory = peak_rss_mb([server.pid, *children_of(server.pid)])
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["insert_floor_per_s"] = median([insert_floor(max(1, args.batches // 4), args.size) for _ in range(3)])
    results["server_peak_rss_mb"] = memory
    checks = [
        results[k]["accepted"] == results[k]["rows"] and results[k]["accepted"] > 0
        for k in ("commhub", "contract", "single_sends")
    ]
    results["ok"] = all(checks)
    save("batch_ingest", results)
    floor = results["insert_floor_per_s"]
    print(f"=== batch ingest ({args.batches} batches of {args.size}, {args.clients} clients, gunicorn gthread 2x5) ===")
    for key, label in (
        ("commhub", "POST /api/v1/notifications/batch/"),
        ("contract", "POST /api/communication/batch"),
        ("single_sends", "POST /api/v1/notifications/ (one each)"),
    ):
        r = results[key]
        print(f"{label:40s} {r['per_s']:8.0f} notifications/s  ({r['accepted']} in {r['seconds']:.1f}s)")
    print(f"{'insert floor: bulk_create, in-process':40s} {floor:8.0f} rows/s")
    print(
        f"ratios: v1 batch / single sends = {results['commhub']['per_s'] / results['single_sends']['per_s']:.1f}x, "
        f"v1 batch / insert floor = {results['commhub']['per_s'] / floor:.2f}x   (server peak RSS {memory:.0f} MB)"
    )
    print(f"check: every accepted notification left exactly one row: {'OK' if results['ok'] else 'FAIL'}")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
