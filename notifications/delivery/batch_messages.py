"""Batch, messages form (Postmark's /email/batch): complete messages, many per call.

Each row is rendered exactly as the per-message path renders it (outbound.py), so nothing needs checking
against a shared text; rows of one type go out in calls of at most the ESP's limit, and a message the ESP
refuses fails alone, as its single send would.
"""

from __future__ import annotations

import uuid
from operator import methodcaller

from django.utils import timezone

from notifications.channels.base import OutboundMessage, PermanentError
from notifications.channels.failover import FailoverProvider
from notifications.models import Notification

from .batch_call import GroupOutcome, batch_call, limits_allow
from .outbound import outbound_message
from .outcomes import Attempt, record_failure


def deliver_messages(
    ready: list[Notification], *, chain: FailoverProvider, limit: int, token: uuid.UUID, result: GroupOutcome
) -> None:
    """Send `ready` (re-checked, due) in calls of at most `limit`; a chunk the limits have no room for, or a
    call the ESP took none of, goes one by one."""
    rendered: list[tuple[Notification, OutboundMessage]] = []
    for n in ready:
        try:
            rendered.append((n, outbound_message(n)))
        except PermanentError as exc:  # nothing reached the provider: no attempt is spent (as send.py)
            attempt = Attempt(provider=chain.name, started=timezone.now(), duration_ms=0, called_provider=False)
            result.outcomes.append(record_failure(n, error=exc, token=token, attempt=attempt))
    for start in range(0, len(rendered), limit):
        chunk = rendered[start : start + limit]
        chunk_rows = [n for n, _ in chunk]
        if len(chunk) == 1 or not limits_allow(chunk_rows, chain):
            result.one_by_one.extend(chunk_rows)
            continue
        messages = [message for _, message in chunk]
        outcomes = batch_call(chunk_rows, methodcaller("send_each", messages), chain=chain, token=token)
        if outcomes is None:
            result.one_by_one.extend(chunk_rows)
        else:
            result.outcomes.extend(outcomes)
