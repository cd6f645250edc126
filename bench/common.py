"""Shared benchmark plumbing: a fresh PostgreSQL database, the fake ESP, CPU-noise and memory readings.

Benchmarks print figures beside a baseline measured in the same run, because these machines are shared
and noisy: absolute numbers move by 2x from one day to the next, ratios much less.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PEER_FAKE_ESP = ROOT.parent / "shared" / "peers" / "fake_esp.py"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")
DB_NAME = "commhub_bench"
DATA_DIR = Path(tempfile.gettempdir()) / "commhub_bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(**extra: str) -> dict[str, str]:
    """Production-like settings (DEBUG off) on a dedicated database and Redis db."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=f"{PG}/{DB_NAME}",
        CELERY_BROKER_URL=REDIS,
        DEBUG="false",
        SECRET_KEY=env.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48),
        COMMHUB_DATA_DIR=str(DATA_DIR),
        SMS_PROVIDER="capture",
        LOG_LEVEL="WARNING",
        # the catalogue's limits are per recipient, so they do not cap a run to many people, but they cost a limiter
        # call per message: off by default, as the figures before they were per recipient; BENCH_TYPE_RATE_LIMITS=true
        # measures them
        COMMHUB_TYPE_RATE_LIMITS=env.get("BENCH_TYPE_RATE_LIMITS", "false"),
        PYTHONPATH=str(ROOT),
        MALLOC_ARENA_MAX=env.get("MALLOC_ARENA_MAX", "4"),  # as the production image
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def fresh_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo")
    import redis

    redis.Redis.from_url(REDIS).flushdb()


class FakeEsp:
    """The peer's fake Mailgun API when it is beside the checkout (same fake for both sides of the
    comparison), else commhub's own fake providers. `batch=True` and another `esp` (postmark, sendgrid) always
    take commhub's own: it speaks each one's batch form and counts recipients, where the peer's counts requests."""

    def __init__(self, *, batch: bool = False, esp: str = "mailgun") -> None:
        self.port = free_port()
        self.esp = esp
        if PEER_FAKE_ESP.exists() and not batch and esp == "mailgun":
            cmd = [sys.executable, str(PEER_FAKE_ESP), "--port", str(self.port)]
            self.kind = "shared/peers/fake_esp.py (asyncio Mailgun API)"
        else:
            cmd = [sys.executable, "-m", "tests.fakes.providers", "--port", str(self.port)]
            self.kind = "tests/fakes/providers.py (threaded Mailgun/Postmark/Twilio API)"
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

    def count(self) -> int | None:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/count", timeout=5) as r:
                text = r.read().decode().strip()
        except Exception:
            return None
        return int(json.loads(text)["count"]) if text.startswith("{") else int(text)  # ours: JSON, per recipient

    def reset(self) -> None:
        import urllib.request

        with contextlib.suppress(Exception):  # commhub's own fake has no /reset
            urllib.request.urlopen(urllib.request.Request(f"{self.url}/reset", method="POST", data=b""), timeout=5)

    def email_env(self) -> dict[str, str]:
        from tests.fakes.providers import FakeProviders

        key, url = {
            "mailgun": (FakeProviders.mailgun_api_key, f"{self.url}/v3"),
            "postmark": (FakeProviders.postmark_token, f"{self.url}/"),
            "sendgrid": (FakeProviders.sendgrid_api_key, f"{self.url}/v3/"),
        }[self.esp]
        return {
            "EMAIL_PROVIDER": self.esp,
            "EMAIL_API_KEY": key,
            "EMAIL_API_URL": url,
            **({"EMAIL_SENDER_DOMAIN": "mg.example.com"} if self.esp == "mailgun" else {}),
        }

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_gunicorn(env: dict[str, str], port: int, *, workers: int = 2, threads: int = 5) -> subprocess.Popen:
    """commhub under gunicorn (gthread, 2 workers x 5 threads unless told), ready to serve."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "commhub.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(1.0)  # let both workers finish importing
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("gunicorn exited at start-up") from None
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start listening")


def cpu_busy(interval: float = 1.0) -> float:
    """Host-wide CPU busy % over `interval` (from /proc/stat), to flag noisy runs."""

    def snap():
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def peak_rss_mb(pids: list[int]) -> float:
    """Sum of the peak resident memory (VmHWM) of live processes."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def recipients_cloned(prefix: str, count: int, *, emails: bool = False) -> None:
    """`count` recipients `<prefix>1`... by SQL, copies of the demo recipient 123 (every column as the app wrote
    it), each with its own address `<prefix>N@example.com` when `emails`."""
    from django.db import connection

    from preferences.models import Recipient

    table = Recipient._meta.db_table
    skip = ("id", "external_id", "email") if emails else ("id", "external_id")
    columns = ", ".join(f.column for f in Recipient._meta.concrete_fields if f.column not in skip)
    email = ", %s || g || '@example.com'" if emails else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (external_id{", email" if emails else ""}, {columns}) '  # noqa: S608 (metadata)
            f"SELECT %s || g{email}, {columns} FROM \"{table}\", generate_series(1, %s) g WHERE external_id = '123'",
            [prefix, *([prefix] if emails else []), count],
        )


def django_setup(env: dict[str, str]) -> None:
    """Run Django inside this process with the benchmark's environment."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- CPU time per message, summed over a side's processes (a figure that survives a noisy machine) ----------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_and_cmdline(pid: int) -> tuple[float, str] | None:
    """(user + system CPU seconds of the process itself, its command line), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK, cmdline  # utime, stime


class CpuSampler:
    """Sums the CPU that matching processes use while it runs, sampling /proc every `interval` seconds.

    `match(cmdline)` picks the processes (e.g. a side's workers and its PostgreSQL backends, whose command line
    names the database). A process that starts during the window counts from zero, one that was already
    running from its first sample; the last `interval` of a process that exits is missed (a few ms). With
    `while_alive`, an interval counts only when some process whose command line contains that text is alive
    (the peer's drain: its ingest, before, uses the same database)."""

    def __init__(self, match, *, interval: float = 0.05, while_alive: str | None = None) -> None:
        self.match, self.interval, self.while_alive = match, interval, while_alive
        self.seconds = 0.0
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        seen: dict[int, tuple[float, str]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                found = _proc_cpu_and_cmdline(int(name))
                if found is not None:
                    seen[int(name)] = found
        gate = self.while_alive is None or any(self.while_alive in cmd for _, cmd in seen.values())
        for pid, (cpu, cmdline) in seen.items():
            if not self.match(cmdline):
                continue
            before = self._last.get(pid, cpu if first else 0.0)
            if gate and not first:
                self.seconds += max(0.0, cpu - before)
            self._last[pid] = cpu


def start_worker(env: dict[str, str], *, queues: list[str] | None, name: str, concurrency: int = 2) -> subprocess.Popen:
    """A real `celery worker` (lean: no beat, no events) started and ready; its log in DATA_DIR/<name>.log."""
    from commhub.processes import celery_worker_argv

    log_path = DATA_DIR / f"{name.split('@')[0]}.log"
    with log_path.open("w") as out:
        worker = subprocess.Popen(
            celery_worker_argv(queues=queues, concurrency=concurrency, name=name, lean=True),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise SystemExit(f"worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.02)
    return worker
