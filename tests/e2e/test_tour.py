"""The README's two-minute tour, run as written: the commands are read from the README itself (not copied
here) and run in bash against a `make run` server (python -m commhub.embedded: SQLite, the filesystem broker,
a real worker and beat) on a fresh data directory. A command that fails as written fails the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e


def tour_commands() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A two-minute tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 2, "the tour has lost its commands"
    return "\n".join(blocks)


@pytest.fixture
def embedded(tmp_path):
    """`make run`'s server, with a clean environment (not the test suite's database, broker or keys)."""
    port = free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PORT=str(port), COMMHUB_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    log = (tmp_path / "embedded.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "commhub.embedded"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    text = ""
    while time.monotonic() < deadline:
        text = (tmp_path / "embedded.log").read_text()
        if "commhub is running" in text or proc.poll() is not None:
            break
        time.sleep(0.5)
    try:
        assert "commhub is running" in text, text[-3000:]
        yield env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_the_readme_tour_runs_as_written(embedded):
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour_commands()],
        cwd=ROOT,
        env=embedded,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    assert '"success": true' in out.replace(":true", ": true") and '"task_id"' in out
    assert '"status": "SUCCESS"' in out.replace('"status":"SUCCESS"', '"status": "SUCCESS"'), out
    assert '"allowed"' in out and '"enabled":false' in out.replace(" ", ""), out
    assert '"rules_matched":1' in out.replace(" ", "") and '"notifications_made":1' in out.replace(" ", ""), out


def _admin_token(base: str, data: Path) -> str:
    password = (data / "admin-password.txt").read_text().strip()
    body = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
    with urllib.request.urlopen(f"{base}/api/token/", data=body, timeout=10) as answer:
        return json.load(answer)["access"]


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="make run starts the events Redis only where it is installed"
)
def test_make_run_reads_events_from_its_own_redis_stream(embedded):
    """`make run` starts a private redis-server (a Unix socket in its data directory) and the events consumer: an
    event added to the stream runs the demo rule, and its notification is sent (captured); a message that is not
    an event before it does not stop the stream (both are acknowledged)."""
    data = Path(embedded["COMMHUB_DATA_DIR"])
    base = f"http://127.0.0.1:{embedded['PORT']}"
    stream = redis.Redis(unix_socket_path=str(data / "redis" / "events.sock"))
    stream.xadd("commhub.events", {"event": b"not json"})
    event = {
        "id": "evt_redis_1",
        "name": "payment.failed",
        "recipients": ["123"],
        "data": {"amount": "$49.00", "account": "checking", "attempt": 1},
    }
    stream.xadd("commhub.events", {"event": json.dumps(event)})
    token = _admin_token(base, data)

    def made():
        try:
            runs = _get(f"{base}/api/v1/events/evt_redis_1/", token)["runs"]
        except urllib.error.HTTPError:
            return None
        return runs[0]["notification"] if runs and runs[0]["notification"] else None

    notification = wait_until(made, timeout=30)
    assert notification, "the consumer did not take the event"
    sent = wait_until(lambda: _get(f"{base}/api/v1/notifications/{notification}/", token)["status"] == "sent", 30)
    assert sent, _get(f"{base}/api/v1/notifications/{notification}/", token)
    assert stream.xpending("commhub.events", "commhub")["pending"] == 0  # both acknowledged
