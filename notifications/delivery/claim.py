"""Claim: take a batch of ready rows for one drain, and give back what it does not send.

A claim moves rows from `queued` to `sending` in one transaction (SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite's IMMEDIATE transactions serialise claimers), stamping them with the drain's claim token
and a lease. Two drains never hold the same row. A row given back (unsent) does not count as a claim.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from commhub.conf import knobs
from commhub.sql import column, instances_from, rows_by
from notifications.constants import Status
from notifications.models import Notification
from notifications.ratelimit import Throttled
from notifications.selectors import notification_type_by_id
from notifications.status import status_move, status_sql
from notifications.trace import trace_step
from preferences.models import Recipient
from templates_app.selectors import version_by_id

# What a send needs of a claimed row (the rest is deferred: rendered text, timestamps, provider fields).
CLAIM_FIELDS = [
    "id",
    "recipient",
    "notification_type",
    "channel",
    "priority",
    "queue",
    "status",
    "data",
    "decision_trace",
    "template",
    "template_version",
    "send_at",
    "expires_at",
    "attempts",
    "max_attempts",
    "claims",
    "claim_token",
    "currency",
    "fallback_of",
    "submitted_by",
    "organisation",
]


def notifications_claim(
    *, queue: str, limit: int, token: uuid.UUID, now: datetime, exclude_types: frozenset[int] = frozenset()
) -> list[Notification]:
    """Atomically take up to `limit` ready rows of `queue` for this drain (status -> sending), most urgent
    first, with their recipients and (from the snapshots) types and templates attached. Rows of
    `exclude_types` (types whose rate limit has no room now) are left for later."""
    lease_until = now + timedelta(seconds=knobs().lease_seconds)
    if connection.vendor == "postgresql":
        rows = _claim_postgresql(queue, limit, token, now, lease_until, sorted(exclude_types))
    else:
        rows = _claim_orm(queue, limit, token, now, lease_until, exclude_types)
    rows.sort(key=lambda n: (n.priority, n.send_at))
    recipients = {r.pk: r for r in rows_by(Recipient, "id", {n.recipient_id for n in rows})}
    recipient_field = Notification._meta.get_field("recipient")
    for n in rows:
        recipient_field.set_cached_value(n, recipients[n.recipient_id])
    _attach_catalogue(rows)
    return rows


def _claim_postgresql(
    queue: str, limit: int, token: uuid.UUID, now: datetime, lease_until: datetime, exclude_types: list[int]
) -> list[Notification]:
    """One statement: lock the next ready rows (SKIP LOCKED), flip them to sending, return what a send needs.

    The locking SELECT is a MATERIALIZED CTE joined by the UPDATE: inside `WHERE id IN (subquery)` the
    planner may run a LIMIT ... FOR UPDATE subquery more than once and claim more rows than the limit.
    """
    table = Notification._meta.db_table
    move = status_sql(to=Status.SENDING, sources=[Status.QUEUED], alias="n")
    returning = ", ".join(f"n.{column(Notification, f)}" for f in CLAIM_FIELDS)
    type_filter = 'AND NOT ("notification_type_id" = ANY(%s)) ' if exclude_types else ""
    sql = (
        f'WITH picked AS MATERIALIZED (SELECT "id" FROM "{table}" '  # noqa: S608 (names from model metadata)
        'WHERE "queue" = %s AND "status" = %s AND "send_at" <= %s '
        f"{type_filter}"
        'ORDER BY "priority", "send_at" LIMIT %s FOR UPDATE SKIP LOCKED) '
        f'UPDATE "{table}" AS n SET {move.set_sql}, "claim_token" = %s, "lease_expires_at" = %s, '
        '"claims" = n."claims" + 1, "updated_at" = %s FROM picked '
        f'WHERE n."id" = picked."id" AND {move.where_sql} RETURNING {returning}'
    )
    params: list[Any] = [queue, Status.QUEUED, now, *([exclude_types] if exclude_types else []), limit]
    params += [*move.set_params, token, lease_until, now, *move.where_params]
    return instances_from(Notification, CLAIM_FIELDS, sql, params)


def _claim_orm(
    queue: str, limit: int, token: uuid.UUID, now: datetime, lease_until: datetime, exclude_types: frozenset[int]
) -> list[Notification]:
    """Portable claim: SQLite's IMMEDIATE transaction holds the write lock, so select-then-update is atomic."""
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(queue=queue, status=Status.QUEUED, send_at__lte=now)
            .exclude(notification_type_id__in=exclude_types)
            .order_by("priority", "send_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        status_move(
            Notification.objects.filter(pk__in=ids),
            to=Status.SENDING,
            sources=[Status.QUEUED],
            now=now,
            claim_token=token,
            lease_expires_at=lease_until,
            claims=F("claims") + 1,
        )
    return list(Notification.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).only(*CLAIM_FIELDS))


def _attach_catalogue(rows: list[Notification]) -> None:
    """Types and template versions come from the in-process snapshots (published versions never change): no
    join, no model building per row."""
    # the ids are already the rows' own: cache the objects without the descriptors' checks and id assignment
    type_field = Notification._meta.get_field("notification_type")
    version_field = Notification._meta.get_field("template_version")
    for n in rows:
        ntype = notification_type_by_id(n.notification_type_id)
        version = version_by_id(n.template_version_id) if n.template_version_id else None
        if ntype is None:  # created moments ago in another process
            n.refresh_from_db(fields=["notification_type"])
        else:
            type_field.set_cached_value(n, ntype)
        if version is not None:
            version_field.set_cached_value(n, version)


def claimed(rows: list[Notification], token: uuid.UUID) -> Any:
    """The rows among `rows` this drain still holds."""
    return Notification.objects.filter(pk__in=[n.pk for n in rows], claim_token=token)


def give_back(rows: list[Notification], token: uuid.UUID, **fields: Any) -> int:
    """Give unsent claims back to the queue: they were never sent, so the claim does not count."""
    if not rows:
        return 0
    return status_move(
        claimed(rows, token),
        to=Status.QUEUED,
        sources=[Status.SENDING],
        now=timezone.now(),
        claim_token=None,
        lease_expires_at=None,
        claims=F("claims") - 1,
        **fields,
    )


def give_back_all(token: uuid.UUID) -> int:
    """Give back every row this drain still holds, including any it does not know it holds: a claim whose
    connection broke after the statement committed and before its rows came back."""
    return status_move(
        Notification.objects.filter(claim_token=token, status=Status.SENDING),
        to=Status.QUEUED,
        sources=[Status.SENDING],
        now=timezone.now(),
        claim_token=None,
        lease_expires_at=None,
        claims=F("claims") - 1,
    )


def hold_back(rows: list[Notification], token: uuid.UUID, exc: Throttled, *, until_room: bool = False) -> int:
    """Give claims back because a rate limit has no room; each row's trace says so (once per wait). `until_room`
    (a person's limit): the rows are not claimable again until the limit has room, so a drain does not keep
    claiming them while it sends everyone else's."""
    now = timezone.now()
    later: dict[str, Any] = {"send_at": now + timedelta(seconds=exc.wait)} if until_room else {}
    step = trace_step("rate limit", "wait", f"{exc.rate.label} reached: waiting for room, not failing")
    fresh = [n for n in rows if not n.decision_trace or n.decision_trace[-1].get("check") != "rate limit"]
    held = 0
    for n in fresh:
        held += status_move(
            claimed([n], token),
            to=Status.QUEUED,
            sources=[Status.SENDING],
            now=now,
            step=step,
            trace=n.decision_trace,
            claim_token=None,
            lease_expires_at=None,
            claims=F("claims") - 1,
            **later,
        )
    fresh_ids = {n.pk for n in fresh}
    again = [n for n in rows if n.pk not in fresh_ids]
    if until_room and again:
        claimed(again, token).update(send_at=later["send_at"])  # before the claim goes: still this drain's rows
    return held + give_back(again, token)
