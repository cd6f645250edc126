"""Sender threads: one pool per process, each thread keeping its database connection between drains.

Threads overlap one message's database commit with another's provider round trip. The pool is created after
fork (a pool inherited from a Celery parent has no threads) and grows to the largest drain asked of it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import DatabaseError, close_old_connections, connections
from django.urls import get_resolver

from commhub.conf import knobs

_pool: tuple[int, ThreadPoolExecutor] | None = None
_sender_connections: list[Any] = []  # the database connection of each sender thread, closed at shutdown
_sender_local = threading.local()


def sender_pool(threads: int) -> ThreadPoolExecutor:
    """This process's pool, large enough for `threads` senders at once."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1]._max_workers < threads:
        if _pool is not None and _pool[0] == os.getpid():
            _pool[1].shutdown(wait=False)
        size = max(threads, knobs().drain_threads)
        # Build the URL resolver's reverse lookups (unsubscribe links) here, once: a thread that finds them
        # missing builds them itself, so a new pool's senders each built them at once (0.44 s of CPU).
        get_resolver().reverse_dict  # noqa: B018 (the property builds and caches them)
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=size, thread_name_prefix="sender"))
    return _pool[1]


def with_fresh_connection(fn: Callable[[], None]) -> None:
    """Run `fn` in a pool thread. Pool threads keep their database connection between batches
    (CONN_MAX_AGE); a broken one is dropped first."""
    close_old_connections()
    if not getattr(_sender_local, "registered", False):
        _sender_connections.append(connections["default"])
        _sender_local.registered = True
    fn()


def drop_connection() -> None:
    """Forget this thread's database connection after an error that may have broken it (a restart, a failover,
    a terminated backend): the next query opens a new one instead of failing the same way."""
    with contextlib.suppress(DatabaseError):  # it may be gone already
        connections["default"].close()
    connections["default"].connection = None


def shutdown_sender_pool() -> None:
    """Stop the sender threads and close their database connections (end of tests, worker shutdown)."""
    global _pool
    if _pool is not None and _pool[0] == os.getpid():
        _pool[1].shutdown(wait=True)
        for wrapper in _sender_connections:
            if wrapper.connection is not None:
                wrapper.connection.close()  # the owning thread has exited; close the socket directly
    _sender_connections.clear()
    _pool = None
