"""Recording a successful send: the notification row, its attempt and its cost, atomically.

This runs once per message on the hot path, right after the provider call, and must commit before the
next message is sent (that is what bounds duplicates after a crash). A database round trip costs
0.2-0.5 ms of mostly CPU on these machines, so on PostgreSQL the three writes go in one statement: a
data-modifying CTE that updates the row only if this drain still holds its claim, always inserts the
attempt (the provider call happened either way) and inserts the cost entry only for an owned row. One
statement in autocommit is one round trip and one atomic commit. Other databases use the ORM in a
transaction: same effect, more round trips.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from analytics.models import CostEntry

from .constants import Status
from .models import DeliveryAttempt, Notification


@dataclass(frozen=True)
class SuccessRecord:
    notification: Notification
    token: uuid.UUID
    provider: str
    provider_message_id: str
    attempt_number: int
    segments: int | None
    cost: CostEntry | None
    started_at: datetime
    duration_ms: int
    now: datetime


def _row_values(r: SuccessRecord) -> dict:
    n = r.notification
    return {
        "status": Status.SENT,
        "attempts": r.attempt_number,
        "provider": r.provider,
        "provider_message_id": r.provider_message_id,
        "sent_at": r.now,
        "segments": r.segments,
        "cost": r.cost.amount if r.cost else None,
        "currency": r.cost.currency if r.cost else n.currency,
        "template_id": n.template_id,
        "to_address": n.to_address,
        "rendered_subject": n.rendered_subject,
        "rendered_body": n.rendered_body,
        "rendered_html": n.rendered_html,
        "claim_token": None,
        "lease_expires_at": None,
        "last_error": "",
        "error_code": "",
        "updated_at": r.now,
    }


def success_record(r: SuccessRecord) -> bool:
    """Write the outcome of a successful send. Returns False when the claim was lost (row untouched)."""
    if connection.vendor == "postgresql":
        return _success_record_postgresql(r)
    return _success_record_orm(r)


def _success_record_orm(r: SuccessRecord) -> bool:
    with transaction.atomic():
        owned = Notification.objects.filter(pk=r.notification.pk, claim_token=r.token, status=Status.SENDING).update(
            **_row_values(r)
        )
        DeliveryAttempt.objects.create(
            notification_id=r.notification.pk,
            number=r.attempt_number,
            provider=r.provider,
            outcome=DeliveryAttempt.Outcome.SUCCESS,
            provider_message_id=r.provider_message_id,
            started_at=r.started_at,
            duration_ms=r.duration_ms,
        )
        if owned and r.cost is not None:
            r.cost.save()
    return bool(owned)


def _columns(model, names: list[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


def _success_record_postgresql(r: SuccessRecord) -> bool:
    values = _row_values(r)
    notification_table = Notification._meta.db_table
    set_columns = _columns(Notification, list(values))
    set_sql = ", ".join(f'"{column}" = %s' for column in set_columns)
    attempt_cols = _columns(
        DeliveryAttempt,
        [
            "notification",
            "number",
            "provider",
            "outcome",
            "provider_message_id",
            "error_code",
            "error_message",
            "started_at",
            "duration_ms",
        ],
    )
    params: list = [*values.values(), r.notification.pk, r.token, Status.SENDING]
    params += [
        r.notification.pk,
        r.attempt_number,
        r.provider,
        DeliveryAttempt.Outcome.SUCCESS,
        r.provider_message_id,
        "",
        "",
        r.started_at,
        r.duration_ms,
    ]
    cost_sql = ""
    if r.cost is not None:
        cost_cols = _columns(
            CostEntry,
            [
                "notification",
                "channel",
                "provider",
                "units",
                "unit_price",
                "amount",
                "currency",
                "is_estimate",
                "created_at",
            ],
        )
        # Identifiers come from model metadata, never from input; every value is a bound parameter.
        cost_sql = (
            f', cost AS (INSERT INTO "{CostEntry._meta.db_table}" ({", ".join(cost_cols)}) '  # noqa: S608
            "SELECT id, %s, %s, %s, %s, %s, %s, %s, %s FROM upd)"
        )
        c = r.cost
        params += [c.channel, c.provider, c.units, c.unit_price, Decimal(c.amount), c.currency, c.is_estimate, r.now]
    sql = (
        f'WITH upd AS (UPDATE "{notification_table}" SET {set_sql} '  # noqa: S608
        'WHERE "id" = %s AND "claim_token" = %s AND "status" = %s RETURNING "id"), '
        f'attempt AS (INSERT INTO "{DeliveryAttempt._meta.db_table}" ({", ".join(attempt_cols)}) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s))"
        f"{cost_sql} SELECT count(*) FROM upd"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (owned,) = cursor.fetchone()
    return bool(owned)
