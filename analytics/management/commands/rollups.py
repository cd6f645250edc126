"""Rebuild the daily rollups for a range of days (with progress), then check them against the ledger."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.rollups import rollups_build, rollups_reconcile


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{flag} takes a date such as 2026-05-01, not {value!r}") from None


class Command(BaseCommand):
    help = "Rebuild daily rollups from the notifications and the cost ledger, then reconcile them with the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", help="First day (default: COMMHUB_ROLLUP_DAYS ago).")
        parser.add_argument("--to", dest="end", help="Last day (default: today, UTC).")
        parser.add_argument("--check-only", action="store_true", help="Only reconcile; rebuild nothing.")

    def handle(self, *args, start=None, end=None, check_only=False, **options):
        end_day = _day(end, "--to") or timezone.now().date()
        start_day = _day(start, "--from")
        if start_day and start_day > end_day:
            raise CommandError("--from is after --to")
        if not check_only:
            total = ((end_day - start_day).days + 1) if start_day else None

            def progress(day, groups, recipients):
                done = (day - start_day).days + 1 if start_day else None
                where = f"[{done}/{total}] " if total else ""
                self.stdout.write(f"{where}{day}: {groups} groups, {recipients} recipients")

            days = rollups_build(start=start_day, end=end_day, progress=progress)
            self.stdout.write(f"rebuilt {days} day(s)")
        first = start_day or end_day - timedelta(days=30)
        mismatches = rollups_reconcile(start=first, end=end_day)
        if mismatches:
            for m in mismatches[:20]:
                self.stderr.write(f"{m.day} {m.key}: rollup {m.rollup} != ledger {m.ledger}")
            raise CommandError(f"{len(mismatches)} rollup group(s) disagree with the ledger; run without --check-only")
        self.stdout.write(f"rollups agree with the ledger from {first} to {end_day}")
