"""Wake-ups from the API side: coalesced per queue by one publisher thread per process, yet every commit is
followed by a wake-up published after it, and none is left behind when the process exits. Counted on the
real broker (Redis), where each published wake-up is one entry of the queue's list."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from notifications.queueing import waker
from tests.conftest import ROOT, wait_until, worker_env

pytestmark = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"), reason="counts wake-ups in the Redis broker's lists"
)


@pytest.fixture
def queue():
    import redis

    name = f"test_wakeups_{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "") + name
    yield name, lambda: broker.llen(key)
    broker.delete(key)


def _settled(published) -> int:
    """The count once no publish is pending or in flight."""
    last = -1
    while published() != last:
        last = published()
        time.sleep(0.1)
    return last


def test_a_burst_costs_a_few_publishes_and_a_lone_wake_is_published_at_once(queue, settings):
    settings.COMMHUB = {**settings.COMMHUB, "WAKEUP_COALESCE_MS": 20.0}
    name, published = queue
    for _ in range(300):  # 300 commits asking for the same queue within ~0.1 s
        waker.wake([name])
        time.sleep(0.0003)
    burst = _settled(published)
    print(f"\n300 wake-ups asked within 0.1 s: {burst} published")
    assert 1 <= burst <= 30

    started = time.monotonic()
    waker.wake([name])  # after a quiet spell: published at once, not after a window
    assert wait_until(lambda: published() == burst + 1, timeout=2, interval=0.005)
    assert time.monotonic() - started < 0.5


def test_the_last_wake_of_a_burst_is_followed_by_a_publish(queue, settings):
    """Wakes that arrive while one is being published are not dropped: they share the next publish."""
    settings.COMMHUB = {**settings.COMMHUB, "WAKEUP_COALESCE_MS": 50.0}
    name, published = queue
    waker.wake([name])
    assert wait_until(lambda: published() == 1, timeout=2, interval=0.005)
    waker.wake([name])  # inside the window after the first publish
    time.sleep(0.01)
    assert published() == 1  # held back by the window ...
    assert wait_until(lambda: published() == 2, timeout=2, interval=0.005)  # ... and published when it ends
    assert _settled(published) == 2


def test_pending_wakeups_are_published_when_the_process_exits(queue, db):
    name, published = queue
    script = (
        "import django; django.setup()\n"
        "from notifications.queueing import waker\n"
        f"waker._pid = __import__('os').getpid()  # no publisher thread: only the exit hook can publish\n"
        f"waker.wake([{name!r}])\n"
    )
    env = worker_env(DJANGO_SETTINGS_MODULE="commhub.settings")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert published() == 1


def test_a_forked_child_starts_without_its_parents_pending_wakeups(queue):
    """A prefork pool's child must not publish (or wait on a lock held for) what its parent asked for."""
    import os

    name, published = queue
    with waker._cond:  # the fork happens while the parent holds a pending wake-up and the lock
        waker._pending.add(("notifications.drain_queue", name))
        pid = os.fork()
        if pid == 0:  # the child: checks its own waker, then leaves without running any exit hook
            clean = not waker._pending and waker._pid is None and waker._cond.acquire(timeout=1)
            os._exit(0 if clean else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    waker.wake([name])
    assert wait_until(lambda: published() >= 1, timeout=2, interval=0.01)  # the parent's is still published
