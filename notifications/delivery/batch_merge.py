"""Batch, merge form (Mailgun, SendGrid): rows that share a template version, one text with merge fields per call.

Each row is rendered through its version's merge plan (templates_app.merge: once per template shape; each
recipient costs a few small renders of their own values); rows of one shape share one text, and one call goes
out per group of unique addresses (anymail's batch sending: `to` with `merge_data`, `merge_metadata` and
`merge_headers`). A recipient whose substituted message would differ from their own (a whitespace-folded
subject, an escaped link, a value that looks like a merge field), whose merge data is more than the ESP takes
for one recipient, or whose render fails is handed back to the per-message path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from commhub import channels
from notifications.channels.base import BatchMessage, BatchRecipient
from notifications.channels.failover import FailoverProvider
from notifications.models import Notification
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

from .batch_call import GroupOutcome, batch_call, limits_allow

# Sentinels for the channel's own per-recipient values (e.g. the unsubscribe link), beyond any template slot.
_EXTRA_SLOTS = 1_000_000
# What a merge field's key adds to its value in an ESP's per-recipient data, at the most (`%commhub.m1000003%`)
_KEY_BYTES = 24


@dataclass
class _Item:
    notification: Notification
    values: dict[int, str]
    headers: dict[str, str]


@dataclass
class _Group:
    shared: RenderedMessage
    items: list[_Item]


def deliver_merged(
    ready: list[Notification], *, chain: FailoverProvider, limit: int, token: uuid.UUID, result: GroupOutcome
) -> None:
    """Send `ready` (re-checked, due) in calls of at most `limit` unique addresses; see the module docstring."""
    esp = chain.providers[0]
    syntax = esp.merge_field_syntax  # type: ignore[attr-defined]
    limit_bytes = esp.merge_data_limit  # type: ignore[attr-defined]
    groups = _merged_groups(ready, result.one_by_one, merge_prefix=syntax.split("{}", 1)[0], limit_bytes=limit_bytes)
    for group in groups:
        for chunk in _unique_address_chunks(group.items, limit):
            rows = [item.notification for item in chunk]
            if len(chunk) == 1 or not limits_allow(rows, chain):
                result.one_by_one.extend(rows)  # they wait one by one
                continue
            batch = _batch_message(group.shared, chunk, syntax)
            outcomes = batch_call(rows, methodcaller("send_batch", batch), chain=chain, token=token)
            if outcomes is None:
                result.one_by_one.extend(rows)
            else:
                result.outcomes.extend(outcomes)


def _merged_groups(
    rows: list[Notification], one_by_one: list[Notification], *, merge_prefix: str, limit_bytes: int | None
) -> list[_Group]:
    """Render each row through its version's merge plan; rows with the same shape share one text."""
    groups: dict[tuple, _Group] = {}
    for n in rows:
        found = _merge(n, merge_prefix=merge_prefix, limit_bytes=limit_bytes)
        if found is None:
            one_by_one.append(n)
            continue
        key, shared, item = found
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(shared=shared, items=[])
        group.items.append(item)
    return list(groups.values())


def _merge(
    n: Notification, *, merge_prefix: str, limit_bytes: int | None
) -> tuple[tuple, RenderedMessage, _Item] | None:
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
    if limit_bytes is not None and sum(len(v.encode()) + _KEY_BYTES for v in values.values()) > limit_bytes:
        return None  # more merge data than the ESP takes for one recipient
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
