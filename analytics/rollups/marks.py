"""Reading and writing marks (what each notification was counted as) and recipients' daily costs, a pass's
thousands of rows at a time. On PostgreSQL each write is one statement over arrays (`unnest`), which costs
a tenth of building a many-row INSERT; elsewhere (SQLite, the embedded mode) Django's bulk upsert does it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db import connection

from analytics.models import RecipientDailyCost, RollupMark

from .contributions import Contribution, any_of

MARK_COLUMNS = (
    ("notification_id", "uuid"),
    ("day", "date"),
    ("organisation_id", "integer"),
    ("notification_type_id", "integer"),
    ("channel", "text"),
    ("provider", "text"),
    ("currency", "text"),
    ("recipient_id", "integer"),
    ("flags", "integer"),
    ("units", "integer"),
    ("cost", "numeric"),
    ("ttd_bucket", "smallint"),
)
NAMES = [name for name, _ in MARK_COLUMNS]
CostKey = tuple[date, int, str, str]  # day, recipient, channel, currency


def _row(c: Contribution) -> tuple:
    """A mark's values in MARK_COLUMNS order."""
    day, organisation, type_id, channel, provider, currency = c.group
    ids = (c.notification_id, day, organisation, type_id, channel, provider, currency, c.recipient_id)
    return (*ids, c.flags, c.units, c.cost, c.ttd_bucket)


def marks_read(ids: list[uuid.UUID]) -> dict[uuid.UUID, Contribution]:
    rows = RollupMark.objects.filter(notification_id__in=any_of(ids)).values_list(*NAMES)
    return {
        row[0]: Contribution(
            notification_id=row[0],
            group=(row[1], row[2], row[3], row[4], row[5], row[6]),
            recipient_id=row[7],
            flags=row[8],
            units=row[9],
            cost=row[10],
            ttd_bucket=row[11],
        )
        for row in rows
    }


def marks_write(marks: list[Contribution]) -> None:
    if not marks:
        return
    if connection.vendor != "postgresql":
        RollupMark.objects.bulk_create(
            [RollupMark(**dict(zip(NAMES, _row(c), strict=True))) for c in marks],
            update_conflicts=True,
            unique_fields=["notification"],
            update_fields=[name for name, _ in MARK_COLUMNS[1:]],
        )
        return
    names = ", ".join(name for name, _ in MARK_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in MARK_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in MARK_COLUMNS[1:])
    columns = list(zip(*(_row(c) for c in marks), strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{RollupMark._meta.db_table}" ({names}) SELECT * FROM unnest({arrays}) '  # noqa: S608
            f"ON CONFLICT (notification_id) DO UPDATE SET {updates}",
            [list(column) for column in columns],
        )


def marks_drop(ids: Iterable[uuid.UUID]) -> None:
    RollupMark.objects.filter(notification_id__in=list(ids)).delete()


def recipient_costs_add(changed: dict[CostKey, list]) -> None:
    """Add (messages, units, cost) to each recipient's day; a day left with no message is removed."""
    if not changed:
        return
    if connection.vendor == "postgresql":
        _recipient_costs_add_sql(changed)
        return
    existing = {
        (r.day, r.recipient_id, r.channel, r.currency): r
        for r in RecipientDailyCost.objects.filter(
            day__in={k[0] for k in changed}, recipient_id__in={k[1] for k in changed}
        )
    }
    kept, emptied = [], []
    for (day, recipient, channel, currency), (messages, units, cost) in changed.items():
        row = existing.get((day, recipient, channel, currency))
        if row is None:
            row = RecipientDailyCost(day=day, recipient_id=recipient, channel=channel, currency=currency)
        row.messages, row.units, row.cost = row.messages + messages, row.units + units, row.cost + cost
        if row.messages > 0:
            kept.append(row)
        elif row.pk:
            emptied.append(row.pk)
    RecipientDailyCost.objects.filter(pk__in=emptied).delete()
    RecipientDailyCost.objects.bulk_create(
        kept,
        update_conflicts=True,
        unique_fields=["day", "recipient", "channel", "currency"],
        update_fields=["messages", "units", "cost"],
        batch_size=2000,
    )


def _recipient_costs_add_sql(changed: dict[CostKey, list]) -> None:
    table = RecipientDailyCost._meta.db_table
    keys = list(changed)
    values = [changed[k] for k in keys]
    days = [k[0] for k in keys]
    params: list[list] = [
        days,
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [v[0] for v in values],
        [v[1] for v in values],
        [Decimal(v[2]) for v in values],
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" AS t (day, recipient_id, channel, currency, messages, units, cost) '  # noqa: S608
            "SELECT * FROM unnest(%s::date[], %s::integer[], %s::text[], %s::text[], %s::integer[], %s::integer[], "
            "%s::numeric[]) ON CONFLICT (day, recipient_id, channel, currency) DO UPDATE SET "
            "messages = t.messages + EXCLUDED.messages, units = t.units + EXCLUDED.units, "
            "cost = t.cost + EXCLUDED.cost",
            params,
        )
        cursor.execute(f'DELETE FROM "{table}" WHERE messages = 0 AND day = ANY(%s::date[])', [sorted(set(days))])  # noqa: S608
