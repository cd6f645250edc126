"""Broadcast fan-out: a topic of 100,000 subscribers, its dry run, and the send.

    python bench/broadcast.py [--people 100000]

On PostgreSQL (a fresh benchmark database): `--people` recipients and their subscriptions to one topic, inserted by
SQL; every hundredth address suppressed. Then, in process (what a worker's `broadcasts.advance` runs):
- the dry run: every recipient's notification prepared and written through the real submit path, a chunk per
  transaction, each rolled back (the baseline: the same work without a cursor or anything kept);
- the fan-out: `broadcast_start`, then chunks of 1,000 until done: notifications created per second (the goal:
  5,000/s), and its ratio to the dry run's rate measured in the same run;
- proof: the send's accepted and refused counts equal the dry run's, every subscriber has exactly one
  notification.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_env, django_setup, fresh_database, log, recipients_cloned, save


def populate(people: int) -> int:
    from django.db import connection
    from django.utils import timezone

    from broadcasts.models import Topic, TopicSubscription
    from preferences.models import Recipient, Suppression

    r, s = Recipient._meta.db_table, TopicSubscription._meta.db_table
    topic = Topic.objects.create(key="news", name="News")
    t0 = time.perf_counter()
    recipients_cloned("b", people, emails=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{s}" (topic_id, recipient_id, created_at) '  # noqa: S608
            f"SELECT %s, id, now() FROM \"{r}\" WHERE external_id ~ '^b[0-9]+$'",
            [topic.pk],
        )
        cursor.execute(f'ANALYZE "{r}", "{s}"')
    Suppression.objects.bulk_create(
        [
            Suppression(channel="email", address=f"b{i}@example.com", reason="bounce", created_at=timezone.now())
            for i in range(100, people + 1, 100)
        ]
    )
    log(f"{people} recipients subscribed in {time.perf_counter() - t0:.0f} s")
    return topic.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    env = bench_env()
    log("fresh database")
    fresh_database(env)
    django_setup(env)
    from django.db.models import Count

    from broadcasts import services
    from broadcasts.models import Broadcast
    from commhub import tenancy
    from notifications.models import Notification, NotificationType

    with tenancy.within(tenancy.DEFAULT_ORGANISATION_ID):
        topic = populate(args.people)
        broadcast = Broadcast.objects.create(
            name="May report",
            notification_type=NotificationType.objects.get(key="monthly_report"),
            audience=Broadcast.Audience.TOPIC,
            topic_id=topic,
            data={"month": "May", "summary": "All good."},
        )
        t0 = time.perf_counter()
        said = services.broadcast_dry_run(broadcast=broadcast)
        dry_s = time.perf_counter() - t0
        assert Notification.objects.count() == 0
        log(f"dry run {dry_s:.1f} s: {said}")
        t0 = time.perf_counter()
        services.broadcast_start(broadcast=broadcast)
        while services.broadcasts_advance(time_budget=600):
            pass
        send_s = time.perf_counter() - t0
        done = Broadcast.objects.get(pk=broadcast.pk)
        made = Notification.objects.values("recipient_id").annotate(n=Count("pk"))
        once = made.count() == args.people and not made.filter(n__gt=1).exists()
    same = (done.accepted, done.refused, done.invalid) == (said["accepted"], said["refused"], said["invalid"])
    rate, dry_rate = args.people / send_s, args.people / dry_s
    ok = done.state == Broadcast.State.DONE and once and same and rate >= 5000
    save(
        "broadcast",
        {"args": vars(args), "dry_run": said, "dry_run_s": dry_s, "send_s": send_s, "rate": rate, "ok": ok},
    )
    print(f"=== broadcast to a topic of {args.people} ===")
    print(
        f"dry run: {dry_s:.1f} s ({dry_rate:.0f} recipients/s): {said['accepted']} accepted, refused {said['refused']}"
    )
    print(f"fan-out: {send_s:.1f} s, {rate:.0f} notifications created/s ({rate / dry_rate:.2f}x the dry run's rate)")
    print(
        f"send: {done.accepted} accepted, refused {done.refused}, {done.invalid} invalid; equal to the dry run: {same}"
    )
    print(f"every subscriber exactly one notification: {once}")
    print(f"check: done, dry run = send, one each, >= 5,000/s: {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
