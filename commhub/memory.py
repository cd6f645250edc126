"""Memory in long-lived processes: the cyclic collector's work, and freed memory given back to the system.

Everything a web or worker process has loaded once it is ready (Django, the apps, the models, the catalogue)
lives as long as the process. `settle_collector` moves it out of the cyclic collector's scans and collects the
young generation less often: a send allocates a few hundred objects, almost all freed by reference counting,
and the default thresholds ran a collection every few messages, each walking the older generations (measured in
the one-message-per-call drain: 44-67 us of CPU per message, 9-11 us once frozen).

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


def settle_collector() -> None:
    """Freeze what the process has loaded so far and raise the young generation's threshold (call it once the
    process is ready to serve: the WSGI module's end, a Celery worker process's start)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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
