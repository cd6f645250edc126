"""Reading calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from .models import Call


def calls_all() -> QuerySet[Call]:
    return Call.objects.select_related("caller", "callee").prefetch_related("reminders")


def calls_of_day(*, caller, day: datetime | None = None) -> QuerySet[Call]:
    """`caller`'s calls on the day of `day` (today by default) in the server's time zone."""
    start = timezone.localtime(day or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return calls_all().filter(caller=caller, scheduled_at__gte=start, scheduled_at__lt=start + timedelta(days=1))
