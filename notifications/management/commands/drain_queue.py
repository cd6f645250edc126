"""Send queued notifications in this process: for operators, cron jobs and benchmarks.

Claims rows exactly as workers do (so it is safe beside running workers), shows progress on stderr and
exits 1 when any notification ended failed.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from commhub import channels
from commhub.queues import delivery_queues
from notifications.constants import Status
from notifications.delivery import notifications_promote_due, queue_drain
from notifications.models import Notification


class Command(BaseCommand):
    help = "Send queued notifications in-process, most urgent queue first."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="append", default=[], help="Queue to drain (repeatable). Default: all.")
        parser.add_argument("--channel", choices=channels.names(), help="Only the queues of this channel.")
        parser.add_argument("--limit", type=int, default=0, help="Stop after this many notifications (0 = all).")
        parser.add_argument("--batch-size", type=int, default=200, help="Rows claimed per round (default 200).")
        parser.add_argument("--no-due", action="store_true", help="Do not first queue due scheduled/retry rows.")
        parser.add_argument("--quiet", action="store_true", help="No progress lines, only the summary.")

    def handle(self, *args, queue, channel, limit, batch_size, no_due, quiet, **options):
        known = delivery_queues()
        unknown = [q for q in queue if q not in known]
        if unknown:
            raise CommandError(f"unknown queue {', '.join(unknown)}; known: {', '.join(known)}")
        if limit < 0 or batch_size < 1:
            raise CommandError("--limit must be >= 0 and --batch-size >= 1")
        queues = queue or known
        if channel:
            queues = [q for q in queues if q.startswith(f"{channel}_")]
        if not no_due:
            notifications_promote_due()
        waiting = dict(
            Notification.objects.filter(status=Status.QUEUED, queue__in=queues)
            .values_list("queue")
            .annotate(n=Count("pk"))
            .order_by()
        )
        total = sum(waiting.values()) if not limit else min(limit, sum(waiting.values()))
        counts = {"sent": 0, "failed": 0, "retrying": 0, "suppressed": 0, "lost": 0}
        done = 0
        t0 = last_report = time.monotonic()
        progress = True
        while progress and (not limit or done < limit):
            progress = False
            for name in queues:
                # one-second slices keep the progress line alive; a yield goes back to the most urgent queue
                result = queue_drain(
                    queue=name, batch_size=batch_size, time_budget=1.0, limit=(limit - done) if limit else None
                )
                counts["sent"] += result.sent
                counts["failed"] += result.failed
                counts["retrying"] += result.retrying
                counts["suppressed"] += result.suppressed
                counts["lost"] += result.lost
                done += result.claimed - result.released
                progress = progress or result.claimed > 0
                if not quiet and time.monotonic() - last_report >= 1:
                    last_report = time.monotonic()
                    self._progress(done, total, counts, last_report - t0)
                if result.yielded or (limit and done >= limit):
                    break
        elapsed = time.monotonic() - t0
        rate = done / elapsed if elapsed > 0 else 0.0
        summary = (
            f"drain_queue: {done} processed in {elapsed:.2f}s ({rate:.0f}/s): {counts['sent']} sent, "
            f"{counts['retrying']} retrying, {counts['failed']} failed"
        )
        if counts["suppressed"]:
            summary += f", {counts['suppressed']} suppressed by the re-check before sending"
        if counts["lost"]:
            summary += f", {counts['lost']} taken over by another worker"
        self.stdout.write(summary)
        if counts["failed"]:
            sys.exit(1)

    def _progress(self, done: int, total: int, counts: dict, elapsed: float) -> None:
        pct = f"{100 * done / total:5.1f}%" if total else "  -  "
        self.stderr.write(
            f"  {pct} {done}/{total} | {counts['sent']} sent, {counts['retrying']} retrying, "
            f"{counts['failed']} failed | {done / elapsed:.0f}/s"
        )
