"""The README's two-minute tour, run as written: the commands are read from the README itself (not copied
here) and run in bash against a `make run` server (python -m commhub.embedded: SQLite, the filesystem broker,
a real worker and beat) on a fresh data directory. A command that fails as written fails the test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port

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
