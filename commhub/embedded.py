"""`make run`: commhub on a laptop with nothing else installed.

Prepares the database (migrate, catalogue and demo data, an admin login), then runs three processes until
Ctrl-C: the web app on 127.0.0.1:$PORT, one Celery worker consuming every queue, and beat. SQLite and the
filesystem broker live in ./data; email and SMS are captured in the database and readable in the admin.
If any process dies, the others are stopped too and the exit status says so.

    python -m commhub.embedded
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from commhub.processes import celery_beat_argv, celery_worker_argv

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEND = '{"user_id": 123, "trigger_type": "financial_alert", "data": {"amount": "$120", "account": "checking"}}'


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")  # the development defaults (SECRET_KEY, JWT key) are only accepted with DEBUG
    env.setdefault("EMAIL_PROVIDER", "capture")
    env.setdefault("SMS_PROVIDER", "capture")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PORT"] = env.get("PORT", "8000")
    # links in messages (one-click unsubscribe) must point at this server, whatever its port
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['PORT']}")
    return env


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
    metrics = Path(env.get("PROMETHEUS_MULTIPROC_DIR", data / "metrics"))
    for stale in metrics.glob("*.db"):  # the last run's counters: they restart with its processes
        stale.unlink(missing_ok=True)
    print("commhub: preparing the database ...", flush=True)
    _manage(env, "migrate", "--noinput", "-v", "0")
    seeded = _manage(env, "seed_demo")
    login = _manage(env, "ensure_admin")

    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": celery_worker_argv(queues=None, concurrency=2, name="embedded@%h"),
        "beat": celery_beat_argv(pidfile=str(data / "beat.pid")),
    }
    (data / "beat.pid").unlink(missing_ok=True)
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in commands.items()}  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    print(
        "\n".join(
            [
                "",
                f"commhub is running: {base}  (Ctrl-C stops web, worker and beat)",
                f"  {seeded}",
                f"  {login}",
                f"  admin      {base}/admin/   (captured email and SMS: Notifications > Captured messages)",
                f"  API docs   {base}/api/docs/",
                f"  token      curl -s -X POST {base}/api/token/ -d username=admin -d password=...",
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
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("commhub: stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
