"""What a rate-limit decision costs on the send path, per store, beside its floor measured in the same run.

Every send of a type with a catalogue limit (the default) asks the limiter once: one Lua script on Redis, or
one transaction on the database. The baselines are the cheapest round trip to the same store: a Redis PING,
and a PostgreSQL `SELECT 1` in a transaction. Prints per-decision latency (p50, p99) and decisions per second
with 1 and 8 threads sharing one bucket (the bucket is large enough never to refuse).

    python bench/ratelimit.py [--n 3000]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, bench_env, django_setup, fresh_database, log, percentile, save


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def threaded_rate(fn, n: int, threads: int) -> float:
    from django.db import connection

    def work() -> None:
        try:
            for _ in range(n // threads):
                fn()
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return (n // threads * threads) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    env = bench_env(COMMHUB_RATE_LIMIT_REDIS_URL=REDIS)
    fresh_database(env)
    django_setup(env)
    import redis
    from django.db import connection, transaction

    from commhub.conf import knobs
    from notifications.ratelimit import DatabaseLimiter, Rate, RedisLimiter

    big = Rate(key="bench", per_second=1e6, label="bench", burst=10**6)
    client = redis.Redis.from_url(REDIS)
    stores = {
        "redis": (RedisLimiter(knobs().rate_limit_redis_url), client.ping),
        "database": (DatabaseLimiter(), lambda: _select_one(connection, transaction)),
    }
    results = {}
    for name, (limiter, floor) in stores.items():

        def decide(limiter=limiter) -> None:
            if not limiter.acquire(common=[big], choices=[], units=1).allowed:
                raise SystemExit("the bench bucket refused: make it larger")

        timed(decide, 200)  # warm up
        lat, base = timed(decide, args.n), timed(floor, args.n)
        one, eight = threaded_rate(decide, args.n, 1), threaded_rate(decide, args.n, 8)
        results[name] = {
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "floor_p50_ms": percentile(base, 50),
            "per_s_1_thread": one,
            "per_s_8_threads": eight,
        }
        log(f"{name}: done")
    print(f"=== rate-limit decision, {args.n} each ===")
    for name, r in results.items():
        print(
            f"{name:9} p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms "
            f"(floor {r['floor_p50_ms']:.3f} ms: {r['p50_ms'] / r['floor_p50_ms']:.1f}x); "
            f"{r['per_s_1_thread']:,.0f}/s on 1 thread, {r['per_s_8_threads']:,.0f}/s on 8 sharing one bucket"
        )
    save("ratelimit", results)


def _select_one(connection, transaction) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")


if __name__ == "__main__":
    main()
