"""Worker memory over a long run: resident memory of a real `celery worker -c 2` (all its processes) after 10k
and after 100k sends.

    python bench/worker_memory.py [--n 100000] [--first 10000]

A fresh database gets `--n` queued marketing emails (distinct consenting recipients, ESP batch sending on,
commhub's fake Mailgun); the worker drains them while the script samples the summed VmRSS of the worker and its
pool children. Growth between the two samples is the figure (a leak per message shows as MBs here).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import children_of, log, save, start_worker
from bench.drain import fresh_backlog


def rss_mb(pids: list[int]) -> float:
    """Sum of the current resident memory (VmRSS) of live processes."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total_kb += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=10_000)
    args = parser.parse_args()

    esp, env = fresh_backlog(args.n)
    from notifications.models import Notification

    worker = start_worker(env, queues=["maintenance", "email_education"], name="bench-mem@%h")
    samples: dict[str, float] = {}
    try:
        samples["ready"] = rss_mb([worker.pid, *children_of(worker.pid)])
        t0 = time.monotonic()
        # a sample every tenth of the run as well: a leak climbs steadily, a warm-up flattens
        steps = sorted({args.first, args.n, *range(args.n // 10, args.n, args.n // 10)})
        for target in steps:
            while (sent := Notification.objects.filter(status="sent").count()) < target:
                if time.monotonic() - t0 > 1800:
                    raise SystemExit(f"only {sent} sent after 30 minutes")
                time.sleep(0.5)
            label = "first" if target == args.first else "last" if target == args.n else str(target)
            pids = [worker.pid, *children_of(worker.pid)]
            samples[label] = rss_mb(pids)
            each = ", ".join(f"{rss_mb([pid]):.0f}" for pid in pids)
            log(f"{sent} sent: worker RSS {samples[label]:.0f} MB (per process: {each})")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        esp.stop()
    growth = samples["last"] - samples["first"]
    save("worker_memory", {"n": args.n, "first": args.first, "rss_mb": samples, "growth_mb": growth})
    print(f"=== worker memory (celery worker -c 2, all processes, {args.n} sends) ===")
    print(
        f"RSS when ready {samples['ready']:.0f} MB, after {args.first} sends {samples['first']:.0f} MB, "
        f"after {args.n} sends {samples['last']:.0f} MB: growth {growth:+.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
