"""Celery tasks of the calls app (beat runs both every minute)."""

from __future__ import annotations

from celery import shared_task

from .services import calls_mark_missed, calls_remind


@shared_task(name="calls.remind", ignore_result=True)
def remind() -> int:
    return calls_remind()


@shared_task(name="calls.mark_missed", ignore_result=True)
def mark_missed() -> int:
    return calls_mark_missed()
