"""The one writer of a notification's status.

Every status change goes through here: `status_move` for rows in the database, `status_sql` for the two
statements that cannot be a QuerySet update (the claim and the batched success write), `status_initial` for
a row about to be inserted. Each checks the transition against the state machine (constants.TRANSITIONS),
stamps the moment the new status names (sent_at, delivered_at, failed_at, cancelled_at) unless the caller
gives it (a provider's own time), and appends the decision-trace step that explains the move.

Moves into a status a product backend hears about (sent, delivered, failed, ...) and new rows are announced to
the lifecycle listeners (lifecycle.py) in the same transaction; a `status_sql` caller announces its moves with
`status_announce`.

An illegal transition (e.g. delivered -> queued) raises IllegalTransition when COMMHUB_STATUS_STRICT is on
(tests, development) and is refused with an error in the log otherwise: one bad write must not stop a drain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from commhub.conf import knobs

from . import lifecycle
from .constants import INITIAL_STATUSES, TRANSITIONS, Status
from .lifecycle import Happened, happened_to
from .models import Notification

logger = logging.getLogger(__name__)

STAMPS: Mapping[str, str] = {
    Status.SENT: "sent_at",
    Status.DELIVERED: "delivered_at",
    Status.FAILED: "failed_at",
    Status.CANCELLED: "cancelled_at",
}


class IllegalTransition(Exception):
    """A status change the state machine does not allow."""


def _legal_sources(sources: Iterable[str], to: str) -> list[str]:
    """The sources from which `to` may be entered; an illegal one raises (strict) or is logged and dropped."""
    given = list(sources)
    legal = [source for source in given if to in TRANSITIONS[Status(source)]]
    illegal = [source for source in given if source not in legal]
    if illegal:
        message = f"illegal status transition {', '.join(illegal)} -> {to}"
        if knobs().status_strict:
            raise IllegalTransition(message)
        logger.error("%s: refused", message)
    return legal


def status_move(
    rows: QuerySet[Notification],
    *,
    to: str,
    sources: Iterable[str],
    now: datetime,
    step: dict[str, str] | None = None,
    trace: list[dict[str, str]] | None = None,
    event: str | None = None,
    **fields: Any,
) -> int:
    """Move those of `rows` whose status is one of `sources` to `to`, with `fields`; returns how many moved.

    `step` is appended to `trace` (the row's decision trace as read: a move with a step is a one-row move
    guarded by the caller's filter, e.g. the drain's claim token). `event` names the lifecycle event when it is
    not the status's own (a failure that is a bounce).
    """
    legal = _legal_sources(sources, to)
    if not legal:
        return 0
    values: dict[str, Any] = {"status": to, "updated_at": now, **fields}
    if to in STAMPS:
        values.setdefault(STAMPS[to], now)
    if step is not None:
        values["decision_trace"] = [*(trace or []), step]
    moving = rows.filter(status__in=legal)
    event = event or lifecycle.EVENT_OF_STATUS.get(Status(to))
    if event is None or not lifecycle.listening():
        return moving.update(**values)
    detail = {
        "reason": (step or {}).get("reason") or fields.get("last_error"),
        "error_code": fields.get("error_code"),
        "provider_message_id": fields.get("provider_message_id"),
    }
    with transaction.atomic():  # the rows that move, locked, so that exactly they are announced
        found = list(moving.select_for_update(of=("self",)).only(*_FACTS))
        moved = 0
        for start in range(0, len(found), 2000):
            chunk = [row.pk for row in found[start : start + 2000]]
            moved += Notification.objects.filter(pk__in=chunk, status__in=legal).update(**values)
        lifecycle.announce(happened_to(row, event, at=values.get(STAMPS.get(to, ""), now), **detail) for row in found)
    return moved


_FACTS = ("id", "organisation_id", "notification_type_id", "channel", "recipient_id")


def status_announce(happened: list[Happened]) -> None:
    """Announce moves a `status_sql` statement made (the caller's transaction must hold the statement too)."""
    if happened and lifecycle.listening():
        lifecycle.announce(happened)


def status_inserted(rows: list[Notification]) -> None:
    """Announce rows just inserted (in the inserting transaction): each was accepted; one refused at once was
    also suppressed, for the reason it carries."""
    if not rows or not lifecycle.listening():
        return
    told = []
    for row in rows:
        told.append(happened_to(row, "accepted", at=row.created_at, status=row.status))
        if row.status == Status.SUPPRESSED:
            told.append(
                happened_to(row, "suppressed", at=row.created_at, reason=row.last_error, error_code=row.error_code)
            )
    lifecycle.announce(told)


@dataclass(frozen=True)
class SqlMove:
    """A legal move as SQL fragments: `set_sql` (with one parameter, the new status) and `where_sql` (one
    parameter per source status), and the column the new status stamps, if any."""

    set_sql: str
    set_params: list[str]
    where_sql: str
    where_params: list[str]
    stamp_column: str | None


def status_sql(*, to: str, sources: Iterable[str], alias: str = "") -> SqlMove:
    """The fragments of a legal move for a hand-written statement (columns prefixed with `alias.`)."""
    legal = _legal_sources(sources, to)
    if not legal:  # nothing may move: a condition no row meets
        return SqlMove('"status" = "status"', [], "FALSE", [], None)
    column = f'{alias + "." if alias else ""}"status"'
    placeholders = ", ".join(["%s"] * len(legal))
    stamp = STAMPS.get(to)
    return SqlMove('"status" = %s', [to], f"{column} IN ({placeholders})", legal, stamp)


def status_initial(row: Notification, *, to: str, step: dict[str, str] | None = None) -> Notification:
    """Give a row about to be inserted its first status (queued, scheduled or suppressed), appending `step`."""
    if to not in INITIAL_STATUSES:
        message = f"a new notification cannot start as {to}"
        if knobs().status_strict:
            raise IllegalTransition(message)
        logger.error("%s: starting it as suppressed instead", message)
        to = Status.SUPPRESSED
    row.status = to
    if step is not None:
        row.decision_trace = [*row.decision_trace, step]
    return row
