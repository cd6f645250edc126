"""Memory in long-lived processes: the cyclic collector's work, and freed memory given back to the system.

Everything a web or worker process has loaded once it is ready (Django, the apps, the models, the catalogue)
lives as long as the process. `settle_collector` moves it out of the cyclic collector's scans and sets how
often the young generation is collected. In a worker, rarely: a send allocates a few hundred objects, almost all
freed by reference counting, and the default thresholds ran a collection every few messages, each walking the
older generations (measured in the one-message-per-call drain: 44-67 us of CPU per message, 9-11 us once
frozen). In a web process, every 2,000 objects: see `settle_collector`.

glibc keeps the heap pages Python frees in its malloc arenas (one per sender thread, up to MALLOC_ARENA_MAX)
for reuse, so a worker's resident size follows its high-water mark, not what it holds. After a drain, at most
once per COMMHUB_MALLOC_TRIM_SECONDS, malloc_trim(0) returns the free pages at the top of each arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from typing import Any

from commhub.conf import knobs

_lock = threading.Lock()
_last = 0.0
_trim: Any = None  # libc's malloc_trim, False where there is none


WORKER_YOUNG = 50_000
WEB_YOUNG = 2_000


def settle_collector(*, young: int) -> None:
    """Freeze what the process has loaded so far and set the young generation's threshold (call it once the
    process is ready to serve: the WSGI module's end, a Celery worker process's start).

    A web request leaves ~100-150 objects in reference cycles (Django's and DRF's request, view and parser
    objects point at each other) that only the collector frees. With 50,000 young objects a collection freed
    ~47,000 of them at once: 60-110 ms with the GIL held, every 2-3 s per process, stalling every request in it
    (the single-send benchmark's p99). At 2,000 a collection pauses ~4 ms and the collector's CPU per request
    halves (0.05 against 0.10-0.13 ms, in process over 1,500 requests): the young objects are still in the
    cache. The worker keeps 50,000 (measured on the drain, see above)."""
    gc.freeze()
    gc.set_threshold(young, 20, 100)


def _malloc_trim():
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
            _trim = False
    return _trim


def release_freed_memory() -> bool:
    """Trim the heap if the interval has passed since the last trim; returns whether it trimmed."""
    global _last
    interval = knobs().malloc_trim_seconds
    now = time.monotonic()
    if interval <= 0 or now - _last < interval or not _lock.acquire(blocking=False):
        return False
    try:
        trim = _malloc_trim()
        if not trim:
            return False
        _last = now
        trim(0)
        return True
    finally:
        _lock.release()
