"""Purge the words and personal data of finished notifications past retention (the rows, counts, rollups and
ledgers stay): each type's own retention, or --older-than for all. Look first with --dry-run."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from notifications.retention import notifications_purge, purge_counts, purgeable
from notifications.selectors import notification_type_by_key

from .requeue import _age


class Command(BaseCommand):
    help = (
        "Purge finished notifications' words and personal data past retention (type's retention_days, else "
        "COMMHUB_RETENTION_DAYS; --older-than overrides both). Rows, statuses, rollups and ledgers are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="Purge what was created at least this long ago (e.g. 90d).")
        parser.add_argument("--type", action="append", default=[], dest="types", help="Notification type (repeatable).")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be purged, by type.")
        parser.add_argument("--quiet", action="store_true", help="No progress lines.")

    def handle(self, *args, older_than, types, dry_run, quiet, **options):
        unknown = [t for t in types if notification_type_by_key(t) is None]
        if unknown:
            raise CommandError(f"unknown notification type {', '.join(unknown)}")
        age = _age(older_than, "--older-than")
        if age is not None and age.total_seconds() <= 0:
            raise CommandError("--older-than must be more than 0")
        now = timezone.now()
        if dry_run:
            counts = purge_counts(purgeable(now=now, older_than=age, types=types or None))
            detail = ", ".join(f"{key}: {n}" for key, n in counts.items())
            self.stdout.write(
                f"purge (dry run): {sum(counts.values())} notification(s)" + (f" [{detail}]" if detail else "")
            )
            return
        started, last = time.monotonic(), [time.monotonic()]

        def progress(result) -> None:
            if not quiet and time.monotonic() - last[0] >= 1:
                last[0] = time.monotonic()
                total = sum(result.by_type.values())
                self.stderr.write(f"  {result.notifications}/{total} purged ({time.monotonic() - started:.0f}s)")

        result = notifications_purge(now=now, older_than=age, types=types or None, progress=progress)
        removed = ", ".join(f"{name}: {n}" for name, n in sorted(result.removed.items()) if n)
        detail = ", ".join(f"{key}: {n}" for key, n in result.by_type.items())
        self.stdout.write(
            f"purge: {result.notifications} notification(s) purged"
            + (f" [{detail}]" if detail else "")
            + (f"; removed {removed}" if removed else "")
        )
