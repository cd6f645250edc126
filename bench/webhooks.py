"""Lifecycle-event benchmark: what one subscribed endpoint costs a send, and how fast events reach a receiver.

    python bench/webhooks.py [--n 3000] [--rounds 3] [--concurrency 2]

Each round, alternating (a noisy machine moves both sides alike):
  * `none`: N queued emails drained by a real `celery worker -c 2` with no event subscription;
  * `subscribed`: the same with one subscription to every event, whose receiver (a local HTTP server in its own
    process) answers 200: the drain writes `accepted` and `sent` events and the same worker delivers them as it
    drains. Its drain rate beside `none`'s is the added cost per send; the time until the last event was taken
    gives the delivery throughput under load.
Then the delivery pass alone: `events_deliver()` in this process over a backlog of N pending events.
Each run checks every row is `sent`, every event delivered, and the receiver's count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FakeEsp, bench_env, django_setup, free_port, fresh_database, log, median, save
from bench.drain import ingest, readers, reset_queue, run_worker, verify

RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = 0
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        count += 1
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_DELETE(self):
        global count
        count = 0
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
server.serve_forever()
"""


class Receiver:
    """A threaded http.server in its own process, answering 200. (The peer's asyncio fake ESP, lighter on paper,
    was slower here: 165 against 536 events/s in one run, about 40 ms a request; not investigated.)"""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(self.port)])
        self.url, self.kind = f"http://127.0.0.1:{self.port}/events", "http.server (threaded)"
        for _ in range(100):
            try:
                self.count()
                return
            except OSError:
                time.sleep(0.05)

    def _call(self, method: str) -> bytes:
        import urllib.request

        request = urllib.request.Request(self.url, method=method)
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.read()

    def count(self) -> int:
        return int(self._call("GET"))

    def reset(self) -> None:
        self._call("DELETE")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def reset_events() -> None:
    from hooks.models import EventDelivery, LifecycleEvent

    EventDelivery.objects.all().delete()
    LifecycleEvent.objects.all().delete()


def subscription(url: str | None) -> None:
    from hooks.models import EventSubscription
    from hooks.services import subscription_create

    EventSubscription.objects.all().delete()
    if url:
        subscription_create(organisation_id=1, url=url)


def events_left() -> int:
    from hooks.models import EventDelivery

    return EventDelivery.objects.exclude(state="delivered").count()


def round_of(side: str, args, env: dict, esp: FakeEsp, receiver: Receiver) -> dict:
    reset_queue()
    reset_events()
    esp.reset()
    receiver.reset()
    subscription(receiver.url if side == "subscribed" else None)
    ingest(args.n)
    t0 = time.perf_counter()
    figure = run_worker(env, args.n, args.concurrency, queues=("maintenance", "email_education", "events"))
    ok, detail = verify(args.n, esp)
    if side == "subscribed":
        from hooks.event_delivery import events_deliver

        events_deliver()  # the worker has stopped: what it had not delivered yet goes now
        figure["events_per_s"] = 2 * args.n / (time.perf_counter() - t0)
        taken = receiver.count()
        ok = ok and events_left() == 0 and taken == 2 * args.n
        detail += f", {taken} events taken"
    log(f"{side:10s}: drain {figure['rate']:6.0f}/s | {detail} -> {'OK' if ok else 'FAIL'}")
    return {**figure, "ok": ok}


def delivery_alone(n: int, receiver: Receiver) -> dict:
    """N pending events delivered by `events_deliver()` in this process (the receiver in its own)."""
    from django.utils import timezone

    from hooks.event_delivery import events_deliver
    from hooks.models import EventDelivery, EventSubscription, LifecycleEvent
    from notifications.models import Notification

    reset_events()
    receiver.reset()
    target = EventSubscription.objects.get()
    now = timezone.now()
    rows = list(Notification.objects.values_list("pk", flat=True)[:n])
    events = LifecycleEvent.objects.bulk_create(
        LifecycleEvent(organisation_id=1, notification_id=pk, name="sent", occurred_at=now, payload={"n": str(pk)})
        for pk in rows
    )
    EventDelivery.objects.bulk_create(
        EventDelivery(
            organisation_id=1, event=e, subscription=target, notification_id=e.notification_id, next_attempt_at=now
        )
        for e in events
    )
    t0 = time.perf_counter()
    taken = events_deliver(time_budget=600)
    seconds = time.perf_counter() - t0
    ok = taken == len(rows) and receiver.count() == len(rows)
    log(
        f"delivery alone: {len(rows) / seconds:6.0f} events/s ({len(rows)} in {seconds:.2f}s) "
        f"-> {'OK' if ok else 'FAIL'}"
    )
    return {"events_per_s": len(rows) / seconds, "ok": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    esp = FakeEsp(batch=True)
    receiver = Receiver()
    # the events go to the receiver on loopback, which the SSRF guard lets through only when listed
    env = bench_env(WEBHOOK_ALLOWED_HOSTS="127.0.0.1", **esp.email_env())
    log(f"fresh database; fake ESP {esp.kind}; receiver {receiver.kind} at {receiver.url}")
    fresh_database(env)
    django_setup(env)
    readers(args.n)
    results: dict = {"n": args.n, "rounds": args.rounds, "none": [], "subscribed": [], "alone": []}
    try:
        for _ in range(args.rounds):
            for side in ("none", "subscribed"):
                results[side].append(round_of(side, args, env, esp, receiver))
        results["alone"].append(delivery_alone(args.n, receiver))
    finally:
        esp.stop()
        receiver.stop()
    none, subscribed = (median([r["rate"] for r in results[s]]) for s in ("none", "subscribed"))
    results["summary"] = {
        "drain_none_per_s": none,
        "drain_subscribed_per_s": subscribed,
        "ratio": subscribed / none,
        "events_under_load_per_s": median([r["events_per_s"] for r in results["subscribed"]]),
        "events_alone_per_s": results["alone"][0]["events_per_s"],
        "ok": all(r["ok"] for side in ("none", "subscribed", "alone") for r in results[side]),
    }
    save("webhooks", results)
    s = results["summary"]
    print(f"=== lifecycle events (N={args.n}, {args.rounds} alternating rounds, worker -c {args.concurrency}) ===")
    print(f"drain, no subscription:        {none:7.0f}/s")
    print(f"drain, one subscription:       {subscribed:7.0f}/s  ({s['ratio']:.2f}x; 2 events per send)")
    print(f"events delivered under load:   {s['events_under_load_per_s']:7.0f}/s  (drain start to last event taken)")
    print(f"events delivered, pass alone:  {s['events_alone_per_s']:7.0f}/s")
    print(f"checks: {'all OK' if s['ok'] else 'FAILED'}")
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
