"""In-process snapshots: reloaded once when they expire, however many threads read them at that moment."""

from __future__ import annotations

import threading
import time

import pytest

from commhub.snapshot import _ALL, Snapshot


@pytest.fixture
def counted():
    calls = []

    def loader():
        calls.append(threading.get_ident())
        time.sleep(0.05)  # long enough for every reader to be waiting on the lock
        return {"loaded": len(calls)}

    snapshot = Snapshot(loader)
    yield snapshot, calls
    _ALL.remove(snapshot)


def _read_together(snapshot, readers: int) -> list:
    start = threading.Barrier(readers)
    seen = []

    def read():
        start.wait()
        seen.append(snapshot.get())

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_threads_reading_an_empty_snapshot_load_it_once(counted):
    snapshot, calls = counted
    seen = _read_together(snapshot, 8)
    assert len(calls) == 1
    assert seen == [{"loaded": 1}] * 8


def test_an_expired_snapshot_is_reloaded_once_for_every_waiting_reader(counted, settings):
    snapshot, calls = counted
    settings.COMMHUB = {**settings.COMMHUB, "CATALOGUE_CACHE_SECONDS": 0.2}
    assert snapshot.get() == {"loaded": 1}
    time.sleep(0.25)
    seen = _read_together(snapshot, 8)
    assert len(calls) == 2
    assert seen == [{"loaded": 2}] * 8


def test_invalidate_makes_the_next_read_load_again(counted):
    snapshot, calls = counted
    snapshot.get()
    snapshot.invalidate()
    assert snapshot.get() == {"loaded": 2}
    assert len(calls) == 2
