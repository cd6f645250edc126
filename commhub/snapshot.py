"""Small in-process snapshots of tiny, hot tables (notification types, templates, prices).

Submitting or sending a message reads these for every row; a query each time would cost more than the
rest of the work. A snapshot reloads at most every COMMHUB_CATALOGUE_CACHE_SECONDS, and at once when
this process saves or deletes a row (signals), so an edit in the admin reaches the workers within seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from commhub import tenancy
from commhub.conf import knobs

T = TypeVar("T")

_ALL: list[Snapshot] = []


class Snapshot(Generic[T]):
    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self) -> T:
        ttl = knobs().catalogue_cache_seconds
        value = self._value
        if value is None or time.monotonic() - self._loaded_at > ttl:
            # every organisation's rows: the first reader may be one organisation's request, the next another's
            with self._lock, tenancy.everything():
                value = self._value
                # another thread may have reloaded it while this one waited for the lock: once is enough
                if value is None or time.monotonic() - self._loaded_at > ttl:
                    value = self._value = self._loader()
                    self._loaded_at = time.monotonic()
        return value

    def invalidate(self) -> None:
        self._value = None


def invalidate_all() -> None:
    for snapshot in _ALL:
        snapshot.invalidate()
