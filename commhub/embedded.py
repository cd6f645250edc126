"""`make run`: commhub on a laptop with nothing else installed.

Prepares the database (migrate, catalogue and demo data, an admin login), then runs its processes until
Ctrl-C: the web app on 127.0.0.1:$PORT, one Celery worker consuming every queue, and beat. SQLite and the
filesystem broker live in ./data; email and SMS are captured in the database and readable in the admin.
Events: where `redis-server` is installed (or COMMHUB_EVENTS_REDIS_URL / KAFKA_BOOTSTRAP_SERVERS name a stream),
an events consumer reads them (`manage.py consume_events`); the Redis it starts is private to the run (a Unix
socket in ./data/redis, append-only file there), so events written to it survive a restart.
If any process dies, the others are stopped too and the exit status says so.

    python -m commhub.embedded
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from commhub.processes import celery_beat_argv, celery_worker_argv

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEND = '{"user_id": 123, "trigger_type": "financial_alert", "data": {"amount": "$120", "account": "checking"}}'


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")  # runserver serves the admin's static files
    env.setdefault("METRICS_OPEN", "true")  # a machine's own dev server: /metrics and /health's details open
    env.setdefault("EMAIL_PROVIDER", "capture")
    env.setdefault("SMS_PROVIDER", "capture")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("MALLOC_ARENA_MAX", "4")  # as the production image (README, Production)
    env["PORT"] = env.get("PORT", "8000")
    # links in messages (one-click unsubscribe) must point at this server, whatever its port
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['PORT']}")
    # a try-out's API token lasts the afternoon, not 15 minutes
    env.setdefault("JWT_ACCESS_MINUTES", "720")
    return env


def write_embedded_env(data: Path) -> Path:
    """Generate the embedded mode's keys once (data/embedded.env): settings read it, so `manage.py` works
    outside `make run` too (issue_user_token, create_api_client), and no development default is needed."""
    path = data / "embedded.env"
    if not path.exists():
        path.write_text(
            "# Written by `make run` for the embedded mode; delete it to generate new keys.\n"
            f"SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"USER_JWT_SIGNING_KEY={secrets.token_urlsafe(48)}\n"
        )
        path.chmod(0o600)
    if "VAPID_PRIVATE_KEY=" not in path.read_text():  # a data directory from before push
        with path.open("a") as out:
            out.write(f"VAPID_PRIVATE_KEY={_vapid_private_key()}\n")
    return path


def _vapid_private_key() -> str:
    """A new Web Push (VAPID) private key, raw and base64url: what push.vapid reads (made here without Django)."""
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _wait_until_answering(base: str, procs: dict[str, subprocess.Popen], timeout: float = 90.0) -> str:
    """Poll /health until the web process answers with a live worker; returns what it said last."""
    deadline = time.monotonic() + timeout
    said = "no answer"
    while time.monotonic() < deadline and all(p.poll() is None for p in procs.values()):
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):  # noqa: S310 (our own server)
                return "ready"
        except urllib.error.HTTPError as exc:  # the web answers; the worker has not reported yet
            said = f"web answers, still waiting for the worker ({exc.code})"
        except OSError:
            pass
        time.sleep(0.5)
    return said


def _events_source(env: dict[str, str], data: Path) -> tuple[dict[str, list[str]], str]:
    """The processes that bring events in (a private redis-server, if one must be started, and the consumer) and
    a line saying where events come from."""
    consumer = [sys.executable, "manage.py", "consume_events", "--consumer", "embedded"]
    if env.get("KAFKA_BOOTSTRAP_SERVERS") or env.get("COMMHUB_EVENTS_REDIS_URL"):
        where = env.get("KAFKA_BOOTSTRAP_SERVERS") or env["COMMHUB_EVENTS_REDIS_URL"]
        return {"events": consumer}, f"events     the API, and the stream at {where}"
    server = shutil.which("redis-server")
    if server is None:
        return {}, "events     the API only (install redis-server for the Redis Streams consumer)"
    home = data / "redis"
    home.mkdir(exist_ok=True)
    sock = home / "events.sock"
    if len(str(sock)) > 100:  # a Unix socket's path is at most 107 bytes
        sock = Path(tempfile.mkdtemp(prefix="commhub-redis-")) / "events.sock"
    sock.unlink(missing_ok=True)
    env["COMMHUB_EVENTS_REDIS_URL"] = f"unix://{sock}"
    redis = [server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(home)]
    redis += ["--appendonly", "yes", "--save", "", "--daemonize", "no", "--loglevel", "warning"]
    stream = env.get("COMMHUB_EVENTS_REDIS_STREAM", "commhub.events")
    return (
        {"redis": redis, "events": consumer},
        f"events     the API, and the Redis stream: redis-cli -s {sock} XADD {stream} '*' event '<json>'",
    )


def _wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if Path(path).exists():
            return
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    raise SystemExit(f"commhub: redis-server did not open {path} (exit {proc.wait()}); its log is above")


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py; no shell)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"commhub: `manage.py {' '.join(args)}` failed (exit {result.returncode})")
    return result.stdout.strip()


def main() -> int:
    env = _env()
    port = env["PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"commhub: PORT must be a TCP port number, not {port!r}", file=sys.stderr)
        return 2
    data = Path(env.get("COMMHUB_DATA_DIR", ROOT / "data"))
    data.mkdir(parents=True, exist_ok=True)
    write_embedded_env(data)
    metrics = Path(env.get("PROMETHEUS_MULTIPROC_DIR", data / "metrics"))
    for stale in metrics.glob("*.db"):  # the last run's counters: they restart with its processes
        stale.unlink(missing_ok=True)
    print("commhub: preparing the database ...", flush=True)
    _manage(env, "migrate", "--noinput", "-v", "0")
    seeded = _manage(env, "seed_demo")
    rules = _manage(env, "seed_demo_rules")
    login = _manage(env, "ensure_admin")

    streams, events_line = _events_source(env, data)
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": celery_worker_argv(queues=None, concurrency=2, name="embedded@%h"),
        "beat": celery_beat_argv(pidfile=str(data / "beat.pid")),
    }
    (data / "beat.pid").unlink(missing_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    if "redis" in streams:  # first: the consumer connects to it
        procs["redis"] = subprocess.Popen(streams.pop("redis"), cwd=data, env=env)  # noqa: S603
        _wait_for_socket(env["COMMHUB_EVENTS_REDIS_URL"].removeprefix("unix://"), procs["redis"])
    commands.update(streams)
    procs.update(
        {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in commands.items()}  # noqa: S603
    )
    base = f"http://127.0.0.1:{port}"
    state = _wait_until_answering(base, procs)
    headline = (
        f"commhub is running: {base}  (Ctrl-C stops {', '.join(procs)})"
        if state == "ready"
        else f"commhub started at {base}, but it is not ready yet: {state}"
    )
    print(
        "\n".join(
            [
                "",
                headline,
                f"  {seeded}",
                f"  {rules}",
                f"  {login}",
                f"  admin      {base}/admin/   (captured email and SMS: Notifications > Captured messages)",
                f"  {events_line}",
                f"  API docs   {base}/api/docs/",
                f"  token      curl -s -X POST {base}/api/token/ -d username=admin "
                f"-d password=$(cat {data}/admin-password.txt)",
                f"  send       curl -s -X POST {base}/api/communication/send -H 'Authorization: Bearer <access>' "
                "-H 'Content-Type: application/json' "
                f"-d '{DEMO_SEND}'",
                "",
            ]
        ),
        flush=True,
    )

    stopping = False

    def _stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"commhub: {name} exited with status {proc.returncode}; stopping the others", file=sys.stderr)
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.3)
    # the events consumer finishes its batch (and acknowledges it) before its Redis goes
    _stop_all({name: proc for name, proc in procs.items() if name != "redis"})
    _stop_all({name: proc for name, proc in procs.items() if name == "redis"})
    print("commhub: stopped", flush=True)
    return exit_code


def _stop_all(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
