#!/usr/bin/env python3
"""Run commhub's test suite on PostgreSQL and Redis when they answer, SQLite and the filesystem broker
otherwise. The first line printed says which. With COMMHUB_REQUIRE_SERVICES=1 (CI) an unreachable
PostgreSQL or Redis is an error, not a fallback.

    python scripts/run_tests.py [pytest args...]

COMMHUB_TEST_PG   (default postgres://postgres@127.0.0.1:5432/commhub; tests use test_commhub)
COMMHUB_TEST_REDIS (default redis://127.0.0.1:6379/15)
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def probe_postgres(url: str) -> tuple[str | None, str]:
    import psycopg

    parts = urlsplit(url)
    try:
        with psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or None,
            dbname="postgres",
            connect_timeout=3,
        ) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        return version, f"{parts.hostname}:{parts.port or 5432}"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def probe_redis(url: str) -> tuple[str | None, str]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        return client.info("server")["redis_version"], url.split("://", 1)[1]
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def main() -> int:
    required = os.environ.get("COMMHUB_REQUIRE_SERVICES") == "1"
    pg_url = os.environ.get("COMMHUB_TEST_PG", "postgres://postgres@127.0.0.1:5432/commhub")
    redis_url = os.environ.get("COMMHUB_TEST_REDIS", "redis://127.0.0.1:6379/15")
    pg_version, pg_where = probe_postgres(pg_url)
    redis_version, redis_where = probe_redis(redis_url)

    env = dict(os.environ)
    data_dir = ROOT / "data" / "test"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in (data_dir / "metrics").glob("*.db"):  # counters of earlier runs' processes (see commhub/counters.py)
        stale.unlink(missing_ok=True)
    env.update(
        COMMHUB_DATA_DIR=str(data_dir),
        DEBUG="false",  # tests run with production settings, so no secret may be the dev default
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(48),
        EMAIL_PROVIDER="capture",
        SMS_PROVIDER="capture",
        # Tests that run inside a rolled-back transaction cannot share their rows with sender threads;
        # the tests that exercise threads ask for them explicitly.
        COMMHUB_DRAIN_THREADS=env.get("COMMHUB_DRAIN_THREADS", "1"),
        # The catalogue's per-minute limits would throttle the tests that push hundreds of one type through;
        # tests/notifications/test_rate_limits.py switches them on.
        COMMHUB_TYPE_RATE_LIMITS="false",
        # An illegal status transition anywhere (the workers the e2e tests start included) is an error.
        COMMHUB_STATUS_STRICT="true",
        PYTHONPATH=str(ROOT),
    )
    parts = []
    if pg_version:
        env["DATABASE_URL"] = pg_url
        parts.append(f"PostgreSQL {pg_version} at {pg_where}")
    else:
        env.pop("DATABASE_URL", None)
        parts.append(f"SQLite (PostgreSQL unreachable: {pg_where})")
    if redis_version:
        env["CELERY_BROKER_URL"] = redis_url
        env["COMMHUB_TEST_REDIS_URL"] = redis_url
        parts.append(f"Redis {redis_version} at {redis_where}")
    else:
        env["CELERY_BROKER_URL"] = "filesystem://"
        parts.append(f"filesystem broker (Redis unreachable: {redis_where})")
    print("commhub tests on " + " + ".join(parts), flush=True)
    if required and not (pg_version and redis_version):
        print("error: COMMHUB_REQUIRE_SERVICES=1 and PostgreSQL or Redis is unreachable", file=sys.stderr)
        return 2
    import subprocess

    rc = subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], env=env, cwd=ROOT)  # noqa: S603
    if rc == 5:
        print("error: pytest collected no tests", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
