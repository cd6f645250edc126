"""A type that digests: its messages are taken (status `digested`) and handed to a window that sends one digest
notification when it closes. The windows are the triggers app's (above this one): it registers the gatherer in
its ready(), and the submit path calls it in the transaction that inserts the rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.exceptions import ImproperlyConfigured

from .constants import DigestKind, Status
from .models import Notification, NotificationType
from .trace import trace_step

Gatherer = Callable[[Sequence[Notification]], None]
_gatherers: list[Gatherer] = []


def gatherer_set(gatherer: Gatherer) -> None:
    _gatherers[:] = [gatherer]


def digest_step(ntype: NotificationType) -> dict[str, str]:
    """The trace step of a message its type gathers."""
    if ntype.digest == DigestKind.SLIDING:
        window = f"the sliding digest ({ntype.digest_minutes} min from its first message)"
    else:
        window = f"the weekly digest (weekday {ntype.digest_weekday} {ntype.digest_time:%H:%M}, recipient-local)"
    per = f" per `{ntype.digest_key}`" if ntype.digest_key else ""
    return trace_step("digest", "defer", f"{ntype.key} digests: gathered into {window}{per}")


def digests_gather(rows: Sequence[Notification]) -> None:
    """Hand the inserted rows that are `digested` to their windows (in the caller's transaction)."""
    digested = [row for row in rows if row.status == Status.DIGESTED]
    if not digested:
        return
    if not _gatherers:
        raise ImproperlyConfigured("a type digests but no app gathers digests (is `triggers` installed?)")
    _gatherers[0](digested)
