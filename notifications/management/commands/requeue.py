"""Requeue dead letters (failed notifications) for operators: filter, look first (--dry-run), then requeue with a
fresh attempt budget, showing progress. Each row goes through the same service as the admin's *retry*."""

import re
import sys
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from commhub import channels, tenancy
from commhub.errors import DomainError
from notifications.selectors import dead_letters, notification_type_by_key
from notifications.services import notification_retry
from orgs.management.options import add_organisation_option, organisation_named

_AGE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _age(value: str | None, flag: str) -> timedelta | None:
    if value is None:
        return None
    match = _AGE.match(value.strip().lower())
    if not match:
        raise CommandError(f"{flag} takes an age such as 30m, 2h or 7d, not {value!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Requeue failed notifications (dead letters), filtered by type, channel, error and age."

    def add_arguments(self, parser):
        parser.add_argument("--type", action="append", default=[], dest="types", help="Notification type (repeatable).")
        parser.add_argument("--channel", choices=channels.names())
        parser.add_argument("--error-code", help="Exact error code, e.g. http_503 or twilio_20429.")
        parser.add_argument("--error", dest="error_contains", help="Text the last error contains.")
        parser.add_argument("--older-than", help="Failed at least this long ago (30m, 2h, 7d).")
        parser.add_argument("--newer-than", help="Failed at most this long ago.")
        parser.add_argument("--limit", type=int, default=0, help="Requeue at most this many (0 = all).")
        parser.add_argument("--dry-run", action="store_true", help="Only count and list what would be requeued.")
        parser.add_argument("--quiet", action="store_true", help="No progress lines.")
        add_organisation_option(parser, default="", help="Only this organisation's (slug; default: every one).")

    def handle(self, *args, organisation: str, **options):
        if not organisation:
            return self.requeue(**options)
        org = organisation_named(organisation)
        with tenancy.within(org.pk):
            return self.requeue(**options)

    def requeue(
        self,
        *,
        types,
        channel,
        error_code,
        error_contains,
        older_than,
        newer_than,
        limit,
        dry_run,
        quiet,
        **options,
    ):
        unknown = [t for t in types if notification_type_by_key(t) is None]
        if unknown:
            raise CommandError(f"unknown notification type {', '.join(unknown)}")
        if limit < 0:
            raise CommandError("--limit must be >= 0")
        now = timezone.now()
        older, newer = _age(older_than, "--older-than"), _age(newer_than, "--newer-than")
        rows = dead_letters(
            types=types,
            channel=channel,
            error_code=error_code,
            error_contains=error_contains,
            failed_before=now - older if older else None,
            failed_after=now - newer if newer else None,
        )
        total = rows.count()
        if limit:
            total = min(total, limit)
        if dry_run:
            by_error = rows.values_list("error_code").annotate(n=Count("pk")).order_by("-n")[:10]
            detail = ", ".join(f"{code or '(none)'}: {n}" for code, n in by_error)
            self.stdout.write(
                f"requeue (dry run): {total} failed notification(s) match" + (f" [{detail}]" if detail else "")
            )
            for n in rows.select_related("notification_type")[: min(total, 20)]:
                self.stdout.write(f"  {n.pk} {n.notification_type.key} {n.channel} {n.error_code}: {n.last_error[:80]}")
            return
        done = refused = 0
        last_report = time.monotonic()
        for pk in list(rows.values_list("pk", flat=True)[: total or None]):
            try:
                notification_retry(notification_id=pk, actor="manage.py requeue")
                done += 1
            except DomainError:  # no longer failed (someone retried it meanwhile)
                refused += 1
            if not quiet and time.monotonic() - last_report >= 1:
                last_report = time.monotonic()
                self.stderr.write(f"  {done + refused}/{total} | {done} requeued, {refused} skipped")
        self.stdout.write(f"requeue: {done} requeued, {refused} skipped (no longer failed) of {total} matching")
        if refused and not done:
            sys.exit(1)
