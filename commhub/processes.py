"""Command lines for commhub's own processes (the embedded launcher, tests and benchmarks start them)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

_CELERY = [sys.executable, "-m", "celery", "-A", "commhub"]


def celery_worker_argv(
    *, queues: Iterable[str] | None, concurrency: int, name: str, loglevel: str = "INFO", lean: bool = False
) -> list[str]:
    """`celery worker` consuming `queues` in the order given (strict priority on Redis); None: every queue of
    the configured channels, in the order commhub.queues gives them.

    `lean` drops gossip, mingle and heartbeats: a single worker in a test or benchmark needs none of them.
    """
    argv = [
        *_CELERY,
        "worker",
        *(["-Q", ",".join(queues)] if queues is not None else []),
        "-c",
        str(concurrency),
        "-n",
        name,
        "--loglevel",
        loglevel,
    ]
    if lean:
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return argv


def celery_beat_argv(*, pidfile: str, loglevel: str = "INFO", schedule_file: str | None = None) -> list[str]:
    """`celery beat` with django-celery-beat's DatabaseScheduler (periodic tasks live in the database)."""
    argv = [
        *_CELERY,
        "beat",
        "-S",
        "django",
        "--loglevel",
        loglevel,
        "--pidfile",
        pidfile,
    ]
    if schedule_file:
        argv += ["-s", schedule_file]
    return argv
