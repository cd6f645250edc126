"""Group commit: the success records of many sends written together (one statement, one commit).

A successful send writes the notification row, its attempt and its cost, atomically.
Two costs dominate on these machines: a database round trip (0.2-0.5 ms of mostly CPU) and a commit (~0.4 ms
of PostgreSQL CPU). Paid per message they cost about as much as the provider call itself, so they are paid
per batch:

* One statement per batch on PostgreSQL: a data-modifying CTE over the records (one array per column,
  unnested) that updates each row only if this drain still holds its claim, always inserts the attempt
  (the provider call happened either way) and inserts the cost entry only for an owned row: one round trip,
  one plan, one commit, whatever the number of records (an ESP batch writes hundreds at once).
  Other databases use the ORM in a transaction: same effect, more round trips.
* Write-behind for the per-message path (write_behind.py): a drain's senders hand their records over and go on
  sending; the records are written here, many at a time.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import InterfaceError, OperationalError, connection, transaction

from commhub.sql import column, fetch_binary
from costs.models import CostEntry
from costs.services import CostLine
from notifications.constants import Status
from notifications.lifecycle import Happened, happened_to, listening
from notifications.models import DeliveryAttempt, Notification
from notifications.status import status_announce, status_move, status_sql

from .senders import drop_connection


@dataclass(frozen=True)
class SuccessRecord:
    notification: Notification
    token: uuid.UUID
    provider: str
    provider_message_id: str
    attempt_number: int
    segments: int | None
    cost: CostLine | None
    started_at: datetime
    duration_ms: int
    now: datetime

    def happened(self) -> Happened:
        return happened_to(self.notification, "sent", at=self.now, provider_message_id=self.provider_message_id)


def _row_values(r: SuccessRecord) -> dict:
    n = r.notification
    return {
        "attempts": r.attempt_number,
        "provider": r.provider,
        "provider_message_id": r.provider_message_id,
        "sent_at": r.now,
        "segments": r.segments,
        "cost": r.cost.amount if r.cost else None,
        "currency": r.cost.currency if r.cost else n.currency,
        "template_id": n.template_id,
        "template_version_id": n.template_version_id,
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
    return success_records([r])[0]


def success_records(records: list[SuccessRecord]) -> list[bool]:
    """Write several outcomes atomically; returns, per record, whether its claim was still held. The provider
    has taken these messages: when the connection broke (a restart, a terminated backend), the write is tried
    once more on a new connection rather than given up (which would send them again)."""
    try:
        return _success_records(records)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        drop_connection()
        return _success_records(records)


def _success_records(records: list[SuccessRecord]) -> list[bool]:
    if connection.vendor == "postgresql":  # one statement, one round trip, one commit (and the events it announces)
        with transaction.atomic() if listening() else contextlib.nullcontext():
            owned = _success_records_postgresql(records)
            status_announce([r.happened() for r, held in zip(records, owned, strict=True) if held])
        return owned
    if len(records) == 1:
        return [_success_record_orm(records[0])]
    with transaction.atomic():
        return [_success_record_orm(r) for r in records]


def _success_record_orm(r: SuccessRecord) -> bool:
    with transaction.atomic():
        owned = status_move(
            Notification.objects.filter(pk=r.notification.pk, claim_token=r.token),
            to=Status.SENT,
            sources=[Status.SENDING],
            now=r.now,
            **_row_values(r),
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
            r.cost.entry_for(r.notification).save()
    return bool(owned)


# (name in the VALUES list, SQL type) for each record; the casts let NULLs and text parameters bind cleanly.
_VALUES = [
    ("id", "uuid"),
    ("token", "uuid"),
    ("attempts", "integer"),
    ("provider", "text"),
    ("message_id", "text"),
    ("sent_at", "timestamptz"),
    ("segments", "integer"),
    ("cost", "numeric"),
    ("currency", "text"),
    ("template_id", "bigint"),
    ("template_version_id", "bigint"),
    ("to_address", "text"),
    ("subject", "text"),
    ("body", "text"),
    ("html", "text"),
    ("started_at", "timestamptz"),
    ("duration_ms", "integer"),
    ("cost_units", "integer"),
    ("cost_unit_price", "numeric"),
    ("cost_currency", "text"),
    ("cost_is_estimate", "boolean"),
    ("cost_estimated", "numeric"),
    ("cost_rule_id", "bigint"),
]


# notification field <- VALUES column, for the sent row
_NOTIFICATION_SET = [
    ("attempts", "attempts"),
    ("provider", "provider"),
    ("provider_message_id", "message_id"),
    ("sent_at", "sent_at"),
    ("segments", "segments"),
    ("cost", "cost"),
    ("currency", "currency"),
    ("template", "template_id"),
    ("template_version", "template_version_id"),
    ("to_address", "to_address"),
    ("rendered_subject", "subject"),
    ("rendered_body", "body"),
    ("rendered_html", "html"),
    ("updated_at", "sent_at"),
]
_ATTEMPT_COLUMNS = [
    "notification",
    "number",
    "provider",
    "outcome",
    "provider_message_id",
    "started_at",
    "duration_ms",
    "error_code",
    "error_message",
]
_COST_COLUMNS = [
    "notification",
    "channel",
    "provider",
    "units",
    "unit_price",
    "amount",
    "currency",
    "is_estimate",
    "created_at",
    "estimated_amount",
    "pricing_rule",
]


@cache
def _success_sql() -> str:
    """The statement, built once from model metadata (never from input). Each column of the records comes as
    one array parameter, so the statement is the same for any number of records: psycopg and PostgreSQL parse
    and plan it once, however large the group (an ESP batch is hundreds of records)."""
    n, a, c = Notification, DeliveryAttempt, CostEntry
    arrays = ", ".join(f"%b::{sql_type}[]" for _, sql_type in _VALUES)
    assignments = ", ".join(f"{column(n, field)} = v.{value}" for field, value in _NOTIFICATION_SET)
    attempt_columns = ", ".join(column(a, f) for f in _ATTEMPT_COLUMNS)
    cost_columns = ", ".join(column(c, f) for f in _COST_COLUMNS)
    move = status_sql(to=Status.SENT, sources=[Status.SENDING], alias="n")
    return (
        f"WITH v ({', '.join(name for name, _ in _VALUES)}) AS (SELECT * FROM unnest({arrays})), "  # noqa: S608
        f'upd AS (UPDATE "{n._meta.db_table}" AS n SET {move.set_sql}, {assignments}, '
        '"claim_token" = NULL, "lease_expires_at" = NULL, "last_error" = \'\', "error_code" = \'\' '
        f'FROM v WHERE n."id" = v.id AND n."claim_token" = v.token AND {move.where_sql} RETURNING n."id"), '
        f'attempt AS (INSERT INTO "{a._meta.db_table}" ({attempt_columns}) '
        "SELECT v.id, v.attempts, v.provider, %s, v.message_id, v.started_at, v.duration_ms, '', '' FROM v), "
        f'cost AS (INSERT INTO "{c._meta.db_table}" ({cost_columns}) '
        "SELECT v.id, %s, v.provider, v.cost_units, v.cost_unit_price, v.cost, v.cost_currency, "
        "v.cost_is_estimate, v.sent_at, v.cost_estimated, v.cost_rule_id "
        "FROM v JOIN upd ON upd.id = v.id WHERE v.cost IS NOT NULL) "
        "SELECT id FROM upd"
    )


def _success_records_postgresql(records: list[SuccessRecord]) -> list[bool]:
    channels = {r.notification.channel for r in records}
    if len(channels) > 1:  # the statement writes one channel's cost rows; a drain's records share one anyway
        owned_by_id: dict[object, bool] = {}
        with transaction.atomic():
            for channel in channels:
                group = [r for r in records if r.notification.channel == channel]
                owned_by_id.update(
                    zip((r.notification.pk for r in group), _success_records_postgresql(group), strict=True)
                )
        return [owned_by_id[r.notification.pk] for r in records]
    rows = []
    for r in records:
        n, cost = r.notification, r.cost
        rows.append(
            (
                n.pk,
                r.token,
                r.attempt_number,
                r.provider,
                r.provider_message_id,
                r.now,
                r.segments,
                cost.amount if cost else None,
                cost.currency if cost else n.currency,
                n.template_id,
                n.template_version_id,
                n.to_address,
                n.rendered_subject,
                n.rendered_body,
                n.rendered_html,
                r.started_at,
                r.duration_ms,
                cost.units if cost else None,
                cost.unit_price if cost else None,
                cost.currency if cost else None,
                cost.is_estimate if cost else None,
                cost.estimated_amount if cost else None,
                cost.pricing_rule_id if cost else None,
            )
        )
    params: list = [list(values) for values in zip(*rows, strict=True)]  # one array per column
    move = status_sql(to=Status.SENT, sources=[Status.SENDING], alias="n")
    params += [*move.set_params, *move.where_params, DeliveryAttempt.Outcome.SUCCESS, channels.pop()]
    owned_ids = {row[0] for row in fetch_binary(connection, _success_sql(), params)}
    return [r.notification.pk in owned_ids for r in records]
