"""Workers give freed heap memory back to the operating system after a drain, at most once per interval."""

import json
import os
import subprocess
import sys
import time

import pytest

from commhub import memory
from tests.conftest import ROOT


def test_the_heap_is_trimmed_at_most_once_per_interval(settings):
    settings.COMMHUB = {**settings.COMMHUB, "MALLOC_TRIM_SECONDS": 0.2}
    memory._last = 0.0
    junk = [bytearray(4096) for _ in range(20_000)]  # ~80 MB of small blocks, then freed
    del junk
    assert memory.release_freed_memory() is True
    assert memory.release_freed_memory() is False  # within the interval
    time.sleep(0.25)
    assert memory.release_freed_memory() is True
    settings.COMMHUB = {**settings.COMMHUB, "MALLOC_TRIM_SECONDS": 0}
    time.sleep(0.25)
    assert memory.release_freed_memory() is False  # switched off


PROBE = "import gc, json; print(json.dumps([gc.get_freeze_count(), gc.get_threshold()[0]]))"


@pytest.mark.parametrize(
    ("start", "young"),
    [
        # what gunicorn imports in each web process: young objects collected often, a short pause each
        ("import commhub.wsgi", 2_000),
        # what Celery sends in each prefork worker process once it has started
        (
            "import django; django.setup(); from commhub.celery import app; "
            "from celery.signals import worker_process_init; worker_process_init.send(sender=None)",
            50_000,
        ),
    ],
    ids=["web", "worker"],
)
def test_a_ready_process_keeps_what_it_loaded_out_of_the_collectors_scans(start, young):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "commhub.settings", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "-c", f"{start}; {PROBE}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    frozen, young_threshold = json.loads(result.stdout.strip().splitlines()[-1])
    assert frozen > 10_000  # Django and the apps' objects
    assert young_threshold == young
