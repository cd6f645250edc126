"""Batch: claimed bulk messages that share a template version, sent as one ESP call per group.

Every stage handles the whole group at once: expiry, the person re-check (one policy evaluation for the
group), the send window, rendering (once per template shape, see templates_app.merge; each recipient costs a
few small renders of their own values), one API call per group of unique addresses (anymail's batch sending:
`to` with `merge_data`, `merge_metadata` and `merge_headers`), and one statement that records every success
(row, attempt and cost; group_commit.py).

What each recipient receives is exactly what the per-message path would have sent them: a recipient whose
substituted message differs from their own (a whitespace-folded subject, an escaped link, a value that looks
like a merge field), whose render fails, or whose rate limit has no room for the group is handed back to the
per-message path (send.py) by the caller, in the same drain.

Crash bound: a sender thread records a batch before it takes more rows, so a worker killed during a batch
call leaves at most one batch (COMMHUB_ESP_BATCH_SIZE messages) per sender thread unrecorded; the sweeper
re-queues those rows after their lease and they are sent again (the documented duplicate bound).
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from commhub import channels
from commhub.conf import knobs
from notifications.channels.base import BatchMessage, BatchRecipient, DeliveryError, SendResult
from notifications.channels.failover import FailoverProvider
from notifications.channels.providers import provider_for
from notifications.constants import PRIORITY_BY_NAME, Status
from notifications.decision import recheck_many_before_send, send_window_at_send
from notifications.models import Notification
from notifications.ratelimit import limiter, person_rate, sender_rate, type_cap
from templates_app.merge import (
    MergedRecipient,
    MergePlan,
    NotMergeable,
    merge_field,
    merge_plan,
    sentinel,
    slots_in,
    substitute,
)
from templates_app.rendering import RenderedMessage, RenderError, build_context
from templates_app.selectors import layout_for

from .group_commit import success_records
from .outcomes import (
    LOST,
    Attempt,
    record_deferred,
    record_expired,
    record_failure,
    record_suppressed,
    success_record_for,
)

logger = logging.getLogger(__name__)

# Sentinels for the channel's own per-recipient values (e.g. the unsubscribe link), beyond any template slot.
_EXTRA_SLOTS = 1_000_000


def batch_key(notification: Notification, chain: Any) -> tuple | None:
    """What rows must share to go out in one ESP call, or None when this row is sent on its own: a bulk tier,
    not critical, a frozen template version, and a provider chain whose first ESP has a batch form."""
    conf = knobs()
    if conf.esp_batch_size < 2 or notification.template_version_id is None:
        return None
    if notification.priority <= PRIORITY_BY_NAME["critical"]:
        return None
    if notification.queue.rsplit("_", 1)[-1] not in conf.esp_batch_tiers:
        return None
    if not isinstance(chain, FailoverProvider) or getattr(chain.providers[0], "merge_field_syntax", None) is None:
        return None
    return (notification.channel, notification.template_version_id)


def group_from_buffer(first: Notification, buffer: collections.deque[Notification], exclude: set) -> list[Notification]:
    """`first`, and the rows of `buffer` that can share its ESP call (taken out of it): the same batch key,
    each to another address, none of `exclude` (rows a group handed back), at most COMMHUB_ESP_BATCH_SIZE."""
    key = batch_key(first, provider_for(first.channel))
    if key is None:
        return [first]
    limit = knobs().esp_batch_size
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


@dataclass
class _Item:
    notification: Notification
    values: dict[int, str]
    headers: dict[str, str]


@dataclass
class _Group:
    shared: RenderedMessage
    items: list[_Item]


@dataclass
class GroupOutcome:
    outcomes: list[str]  # one per row settled here
    one_by_one: list[Notification]  # rows the caller sends on the per-message path


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
    syntax = chain.providers[0].merge_field_syntax  # type: ignore[attr-defined]
    groups = _merged_groups(ready, result.one_by_one, merge_prefix=syntax.split("{}", 1)[0])
    limit = knobs().esp_batch_size
    for group in groups:
        for chunk in _unique_address_chunks(group.items, limit):
            if len(chunk) == 1 or not _limits_allow(chunk, chain):
                result.one_by_one.extend(item.notification for item in chunk)  # they wait one by one
                continue
            outcomes = _send(group.shared, chunk, chain=chain, syntax=syntax, token=token)
            if outcomes is None:
                result.one_by_one.extend(item.notification for item in chunk)
            else:
                result.outcomes.extend(outcomes)
    return result


def _merged_groups(rows: list[Notification], one_by_one: list[Notification], *, merge_prefix: str) -> list[_Group]:
    """Render each row through its version's merge plan; rows with the same shape share one text."""
    groups: dict[tuple, _Group] = {}
    for n in rows:
        found = _merge(n, merge_prefix=merge_prefix)
        if found is None:
            one_by_one.append(n)
            continue
        key, shared, item = found
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(shared=shared, items=[])
        group.items.append(item)
    return list(groups.values())


def _merge(n: Notification, *, merge_prefix: str) -> tuple[tuple, RenderedMessage, _Item] | None:
    spec = channels.get(n.channel)
    version = n.template_version
    to = n.recipient.address_for(n.channel)
    if version is None or not to:
        return None
    plan = merge_plan(version, layout_for(version, n.channel))
    if plan is None:
        return None
    ntype = n.notification_type
    extra = spec.extra_context(
        recipient_id=n.recipient_id, purpose=ntype.purpose, category=ntype.category, preview=False
    )
    try:
        merged = plan.recipient({**build_context(data=n.data, recipient=n.recipient), **extra})
    except (RenderError, NotMergeable):
        return None  # the per-message path renders it (and records a failure in its own words)
    own = RenderedMessage(subject=merged.subject, body=merged.body, html=merged.html)
    facts = spec.finish_facts(own, extra=extra)
    final, headers = spec.finish(own, extra=extra, facts=facts)
    extra_keys = tuple(sorted(k for k, v in extra.items() if isinstance(v, str)))
    shared = _finished_shared(plan, spec, merged, facts, extra_keys, extra)
    values = {**merged.values, **{_EXTRA_SLOTS + i: extra[k] for i, k in enumerate(extra_keys)}}
    as_sent = RenderedMessage(
        subject=substitute(shared.subject, values),
        body=substitute(shared.body, values),
        html=substitute(shared.html, values),
    )
    if as_sent != final:
        return None  # substitution cannot express this recipient's message exactly
    if any(merge_prefix in text for text in (*values.values(), shared.subject, shared.body, shared.html)):
        return None  # a value or template text the ESP would read as a merge field of its own
    n.to_address = to
    n.rendered_subject = final.subject[:998]
    n.rendered_body = final.body
    n.rendered_html = final.html
    key = (n.template_version_id, merged.shape, facts, extra_keys)
    return key, shared, _Item(notification=n, values=values, headers=headers)


def _finished_shared(
    plan: MergePlan, spec: Any, merged: MergedRecipient, facts: tuple, extra_keys: tuple, extra: dict
) -> RenderedMessage:
    """The shape's shared text as the channel finishes it (footer, link) with sentinels for its own values."""
    key = (merged.shape, facts, extra_keys)
    found = plan.finished.get(key)
    if found is None:
        stand_ins = {**extra, **{k: sentinel(_EXTRA_SLOTS + i) for i, k in enumerate(extra_keys)}}
        found, _ = spec.finish(merged.shared, extra=stand_ins, facts=facts)
        plan.finished[key] = found
    return found


def _unique_address_chunks(items: list[_Item], limit: int) -> list[list[_Item]]:
    """Groups of at most `limit` in which no address appears twice (an ESP's merge data is keyed by address)."""
    chunks: list[tuple[set[str], list[_Item]]] = []
    for item in items:
        address = item.notification.to_address.lower()
        for seen, chunk in chunks:
            if address not in seen and len(chunk) < limit:
                seen.add(address)
                chunk.append(item)
                break
        else:
            chunks.append(({address}, [item]))
    return [chunk for _, chunk in chunks]


def _limits_allow(chunk: list[_Item], chain: FailoverProvider) -> bool:
    """Each recipient's limit (one message each), the type's cap and the sender's pace must have room for the
    whole group now (nothing is consumed otherwise); a group that does not fit is sent one by one, each waiting
    its turn. A group larger than the cap's burst never fits (the limiter stretches a burst to one request's
    units, which keeps a pace's average but would let a "3 a minute" cap send 6 at once)."""
    first = chunk[0].notification
    ntype, channel = first.notification_type, first.channel
    people = [r for item in chunk if (r := person_rate(ntype, channel, item.notification.recipient_id))]
    cap = type_cap(ntype, channel)
    pace = sender_rate(chain.providers[0].sender, critical=False)
    if not people and cap is None and pace is None:
        return True
    if cap is not None and len(chunk) > cap.burst + cap.headroom:
        return False
    common = [*people, *([cap] if cap else [])]
    return limiter().acquire(common=common, choices=[pace] if pace else [], units=len(chunk)).allowed


def _send(
    shared: RenderedMessage, chunk: list[_Item], *, chain: FailoverProvider, syntax: str, token: uuid.UUID
) -> list[str] | None:
    """One ESP call for `chunk`, and its outcomes recorded in one statement. None: send these one by one (no
    batch sender now, or the ESP took none of them and another may)."""
    provider = chain.batch_sender()
    if provider is None:
        return None
    batch = _batch_message(shared, chunk, syntax)
    started, t0 = timezone.now(), time.perf_counter()
    try:
        results: dict[str, SendResult] = provider.send_batch(batch)  # type: ignore[attr-defined]
    except DeliveryError as exc:
        chain.batch_done(provider, seconds=time.perf_counter() - t0, sent=0, error=exc)
        logger.warning("batch of %d to %s failed: %s", len(chunk), provider.name, exc.message)
        if exc.transient and not exc.ambiguous:
            return None  # the ESP took none of it: one by one, through the failover chain and its retries
        # refused for good, or no answer (it may have sent them): each row records it as a single send would
        attempt = Attempt(provider=provider.name, started=started, duration_ms=_ms(t0), called_provider=True)
        return [record_failure(item.notification, error=exc, token=token, attempt=attempt) for item in chunk]
    chain.batch_done(provider, seconds=time.perf_counter() - t0, sent=len(chunk), error=None)
    attempt = Attempt(provider=provider.name, started=started, duration_ms=_ms(t0), called_provider=True)
    return _record_sent(chunk, results, token=token, attempt=attempt)


def _batch_message(shared: RenderedMessage, chunk: list[_Item], syntax: str) -> BatchMessage:
    """The API call's content: the shared text with merge fields, each recipient's values, headers and id.
    Slots with the same value for every recipient of the call share one merge field (e.g. the unsubscribe
    link in the text and the HTML layout): less merge data to encode and send."""
    field_of: dict[int, str] = {}
    by_values: dict[tuple[str, ...], str] = {}
    for slot in slots_in(shared.subject, shared.body, shared.html):
        field_of[slot] = by_values.setdefault(tuple(item.values[slot] for item in chunk), f"m{slot}")
    fields = sorted(set(field_of.values()))
    first_slot = {name: slot for slot, name in reversed(list(field_of.items()))}

    def field(slot: int) -> str:
        return syntax.format(field_of[slot])

    return BatchMessage(
        channel=chunk[0].notification.channel,
        subject=merge_field(shared.subject, field),
        body=merge_field(shared.body, field),
        html=merge_field(shared.html, field),
        recipients=tuple(
            BatchRecipient(
                notification_id=str(item.notification.pk),
                to=item.notification.to_address,
                merge_data={name: item.values[first_slot[name]] for name in fields},
                headers=item.headers,
            )
            for item in chunk
        ),
    )


def _record_sent(
    chunk: list[_Item], results: dict[str, SendResult], *, token: uuid.UUID, attempt: Attempt
) -> list[str]:
    """Every success of the call in one statement (row, attempt, cost)."""
    now = timezone.now()
    records = [
        success_record_for(
            item.notification, result=results[str(item.notification.pk)], token=token, attempt=attempt, now=now
        )
        for item in chunk
    ]
    outcomes = []
    for record, owned in zip(records, success_records(records), strict=True):
        if not owned:
            logger.warning(
                "notification %s was sent in a batch after its claim was taken over: possible duplicate",
                record.notification.pk,
            )
        outcomes.append(Status.SENT if owned else LOST)
    return outcomes


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
