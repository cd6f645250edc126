"""Batch: claimed bulk messages sent as one ESP call per group.

Every stage handles the whole group at once: expiry, the person re-check (one policy evaluation for the
group), the send window, rendering, one API call per group, and one statement that records every success
(batch_call.py). Two batch forms, as the ESP has them: "merge" (Mailgun: one text with merge fields for rows of
one template version; batch_merge.py) and "messages" (Postmark: complete messages, many per call;
batch_messages.py).

What each recipient receives is exactly what the per-message path would have sent them: a recipient the form
cannot carry exactly, whose render fails, or whose rate limit has no room for the group is handed back to the
per-message path (send.py) by the caller, in the same drain.

Crash bound: a sender thread records a batch before it takes more rows, so a worker killed during a batch
call leaves at most one batch (COMMHUB_ESP_BATCH_SIZE messages) per sender thread unrecorded; the sweeper
re-queues those rows after their lease and they are sent again (the documented duplicate bound).
"""

from __future__ import annotations

import collections
import uuid
from typing import Any

from django.utils import timezone

from commhub.conf import knobs
from notifications.channels.failover import FailoverProvider
from notifications.channels.providers import provider_for
from notifications.constants import PRIORITY_BY_NAME
from notifications.decision import recheck_many_before_send, send_window_at_send
from notifications.models import Notification

from .batch_call import GroupOutcome
from .batch_merge import deliver_merged
from .batch_messages import deliver_messages
from .outcomes import record_deferred, record_expired, record_suppressed

__all__ = ["GroupOutcome", "batch_key", "group_deliver", "group_from_buffer"]


def batch_key(notification: Notification, chain: Any) -> tuple | None:
    """What rows must share to go out in one ESP call, or None when this row is sent on its own: a bulk tier,
    not critical, a frozen template version, and a provider chain whose first ESP has a batch form (the merge
    form needs one template version, the messages form one type: its limits are checked for the group)."""
    conf = knobs()
    if conf.esp_batch_size < 2 or notification.template_version_id is None:
        return None
    if notification.priority <= PRIORITY_BY_NAME["critical"]:
        return None
    if notification.queue.rsplit("_", 1)[-1] not in conf.esp_batch_tiers:
        return None
    form = getattr(chain.providers[0], "batch_form", None) if isinstance(chain, FailoverProvider) else None
    if form is None:
        return None
    if form == "messages":
        return (notification.channel, form, notification.notification_type_id)
    return (notification.channel, notification.template_version_id)


def group_from_buffer(first: Notification, buffer: collections.deque[Notification], exclude: set) -> list[Notification]:
    """`first`, and the rows of `buffer` that can share its ESP call (taken out of it): the same batch key,
    each to another address, none of `exclude` (rows a group handed back), at most COMMHUB_ESP_BATCH_SIZE."""
    chain = provider_for(first.channel)
    key = batch_key(first, chain)
    if key is None or not isinstance(chain, FailoverProvider):  # (a batch key names a chain's first ESP)
        return [first]
    limit = _call_size(chain)
    rows, keep = [first], collections.deque[Notification]()
    addresses = {first.recipient.address_for(first.channel).lower()}
    while buffer:
        n = buffer.popleft()
        address = n.recipient.address_for(n.channel).lower()
        fits = len(rows) < limit and address not in addresses and n.pk not in exclude
        if fits and batch_key(n, provider_for(n.channel)) == key:
            rows.append(n)
            addresses.add(address)
        else:
            keep.append(n)
    buffer.extend(keep)
    return rows


def group_deliver(rows: list[Notification], *, chain: FailoverProvider, token: uuid.UUID) -> GroupOutcome:
    """Send `rows` (claimed, one batch key) in as few ESP calls as they allow; see the module docstring."""
    result = GroupOutcome(outcomes=[], one_by_one=[])
    now = timezone.now()
    live = []
    for n in rows:
        if n.expires_at is not None and now >= n.expires_at:
            result.outcomes.append(record_expired(n, now=now, token=token))
        else:
            live.append(n)
    ready = []
    for n, refusal in zip(live, recheck_many_before_send(live), strict=True):
        if refusal is not None:
            result.outcomes.append(record_suppressed(n, refusal=refusal, token=token))
            continue
        held = send_window_at_send(n, now=now)
        if held is not None:
            until, step = held
            result.outcomes.append(record_deferred(n, until=until, step=step, token=token))
            continue
        ready.append(n)
    if chain.batch_sender() is None:  # its breaker is open: one by one, through the failover chain
        result.one_by_one.extend(ready)
        return result
    form = deliver_messages if chain.providers[0].batch_form == "messages" else deliver_merged  # type: ignore[attr-defined]
    form(ready, chain=chain, limit=_call_size(chain), token=token, result=result)
    return result


def _call_size(chain: FailoverProvider) -> int:
    """The most rows one call carries: COMMHUB_ESP_BATCH_SIZE within the first ESP's own limit."""
    return min(knobs().esp_batch_size, chain.providers[0].batch_limit)  # type: ignore[attr-defined]
