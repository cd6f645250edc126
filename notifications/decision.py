"""The decision engine: may this notification go, on which channel, and when?

Checks run in a fixed order and each one leaves a step in the notification's decision trace:

    type active -> recipient reachable on the channel -> suppression -> consent for the purpose
    -> preference -> quiet hours -> frequency cap        (budgets join here later)

A refusal by suppression, consent or preference on the type's default channel tries the type's fallback
channel (a critical alert still reaches someone who blocked SMS). A refusal that stands makes the row
`suppressed` (kept, with its trace, so "why didn't user 123 get it?" has an answer); quiet hours and a
deferring frequency cap move `send_at` instead. The three checks that can change while a message waits
run again just before the provider call (`recheck_before_send`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from commhub import channels
from commhub.errors import InvalidInput
from preferences import policy, quiet_hours
from preferences.models import Recipient
from preferences.selectors import PolicyFacts, policy_facts

from .constants import CapAction, Status
from .models import Notification, NotificationType
from .selectors import cap_counted_send_times
from .trace import trace_step

# Rows that count against a frequency cap: sent, or still on their way.
CAP_COUNTED_STATUSES = [Status.SCHEDULED, Status.PENDING, Status.QUEUED, Status.SENDING, Status.SENT, Status.DELIVERED]


def contact_name(channel: str) -> str:
    return channels.get(channel).address_label if channels.exists(channel) else channel


@dataclass
class Decision:
    channel: str
    send_at: datetime
    trace: list[dict]
    refusal: policy.Verdict | None = None
    address: str = ""  # the recipient's address on `channel`

    @property
    def refused(self) -> bool:
        return self.refusal is not None


@dataclass
class DecisionContext:
    """What a submit call has read and worked out so far: policy facts per recipient and frequency-cap usage,
    including the rows accepted earlier in the same batch (not yet in the database), and `memo`, answers that
    later items of the batch can reuse (keyed by everything they depend on)."""

    facts: PolicyFacts = field(default_factory=PolicyFacts)
    loaded: dict[int, frozenset[str]] = field(default_factory=dict)  # recipient id -> the channels read for
    cap_usage: dict[tuple[int, int], list[datetime]] = field(default_factory=dict)
    memo: dict[tuple, Any] = field(default_factory=dict)
    budgets: list[Any] | None = None  # the active budgets as the caller read them (None: read them when needed)

    def preload(self, recipients: Iterable[Recipient], on: Collection[str] | None = None) -> None:
        """Read at once, for all of these recipients, what deciding on the channels `on` (every channel: None)
        needs: each channel's addressing, the suppressions of their addresses on those channels, their consent
        and preferences. Deciding on a channel not read here reads for itself (`decide`)."""
        names = frozenset(channels.names() if on is None else (name for name in on if channels.exists(name)))
        todo = [r for r in recipients if not names <= self.loaded.get(r.pk, frozenset())]
        if not todo or not names:
            return
        channels.preload(todo, names)
        more = policy_facts(recipient_ids=[r.pk for r in todo], addresses=_addresses(todo, names))
        self.facts.suppressions.update(more.suppressions)
        self.facts.consents.update(more.consents)
        for rid, prefs in more.preferences.items():
            self.facts.preferences[rid] = prefs
        for r in todo:
            self.loaded[r.pk] = self.loaded.get(r.pk, frozenset()) | names

    def cap_times(self, recipient: Recipient, ntype: NotificationType, since: datetime) -> list[datetime]:
        key = (recipient.pk, ntype.pk)
        if key not in self.cap_usage:
            self.cap_usage[key] = cap_counted_send_times(
                recipient=recipient, notification_type=ntype, since=since, statuses=CAP_COUNTED_STATUSES
            )
        return self.cap_usage[key]

    def accepted(self, recipient: Recipient, ntype: NotificationType, decision: Decision) -> None:
        """A row built from `decision` will be stored: later items of the same batch count it."""
        if not decision.refused and ntype.has_frequency_cap:
            self.cap_usage.setdefault((recipient.pk, ntype.pk), []).append(decision.send_at)


def _addresses(recipients: Iterable[Recipient], names: Collection[str]) -> list[tuple[int | None, str, str]]:
    """(organisation, channel, address as the suppression list spells it) of each recipient on each channel."""
    specs = [channels.get(name) for name in sorted(names)]
    out = []
    for r in recipients:
        for spec in specs:
            address = spec.address_for(r)
            if address:
                out.append((r.organisation_id, spec.name, spec.address_key(address)))
    return out


def channels_asked(ntype: NotificationType, requested: str | None) -> list[str]:
    """The channels deciding a submit of `ntype` may ask about (none when the requested one is refused)."""
    try:
        return candidate_channels(ntype, requested)
    except InvalidInput:
        return []


def candidate_channels(ntype: NotificationType, requested: str | None) -> list[str]:
    if requested:
        if not channels.exists(requested):
            raise InvalidInput({"channel": [f"Unknown channel {requested!r}; use one of {channels.names()}."]})
        if not ntype.allows(requested):
            allowed = ", ".join(ntype.allowed_channels)
            raise InvalidInput({"channel": [f"{ntype.key} may not be sent by {requested}; allowed: {allowed}."]})
        return [requested]
    candidates = [ntype.default_channel]
    fallback = ntype.fallback_channel
    if fallback and fallback != ntype.default_channel and ntype.allows(fallback):
        candidates.append(fallback)
    return candidates


def decide(
    *,
    ntype: NotificationType,
    recipient: Recipient,
    requested_channel: str | None,
    send_at: datetime,
    now: datetime,
    context: DecisionContext,
) -> Decision:
    """Run every check for one submit. Raises InvalidInput when no channel can even be addressed (bad input:
    nothing is stored); otherwise returns the channel, the moment and the trace, possibly refused."""
    trace = [trace_step("type", "pass", f"{ntype.key} is active ({ntype.purpose}, category {ntype.category})")]
    candidates = candidate_channels(ntype, requested_channel)
    first_refusal: tuple[str, str, policy.Verdict] | None = None
    chosen = None
    for position, channel in enumerate(candidates):
        is_fallback = position > 0
        address = recipient.address_for(channel)
        if not address:
            if requested_channel:
                raise InvalidInput({"channel": [f"Recipient {recipient.external_id} has no {contact_name(channel)}."]})
            trace.append(trace_step("channel", "skip", f"recipient has no {contact_name(channel)} for {channel}"))
            continue
        how = (
            f"{channel} was requested and {ntype.key} allows it"
            if requested_channel
            else f"{channel} is {ntype.key}'s {'fallback' if is_fallback else 'default'} channel"
        )
        trace.append(trace_step("channel", "fallback" if is_fallback else "pass", how))
        question = policy.PersonCheck.of(recipient=recipient, ntype=ntype, channel=channel, address=address)
        # a batch read the facts up front for the channels its items may go by
        facts = context.facts if channel in context.loaded.get(recipient.pk, ()) else None
        (verdicts,) = policy.person_checks([question], facts=facts)
        trace.extend(trace_step(v.check, v.outcome, v.reason) for v in verdicts)
        if verdicts[-1].refused:
            first_refusal = first_refusal or (channel, address, verdicts[-1])
            continue
        chosen = channel
        break
    if chosen is None:
        if first_refusal is None:  # no channel could be addressed at all
            raise InvalidInput(
                {
                    "recipient": [
                        f"Recipient {recipient.external_id} has no {contact_name(ntype.default_channel)} "
                        f"for {ntype.key}."
                    ]
                }
            )
        channel, address, verdict = first_refusal
        return Decision(channel=channel, send_at=send_at, trace=trace, refusal=verdict, address=address)

    decision = Decision(channel=chosen, send_at=send_at, trace=trace, address=address)
    _apply_timing(decision, ntype=ntype, recipient=recipient, now=now, context=context)
    return decision


def _apply_timing(
    decision: Decision, *, ntype: NotificationType, recipient: Recipient, now: datetime, context: DecisionContext
) -> None:
    """Quiet hours, then the frequency cap; a cap deferral may land in quiet hours, so alternate until both
    agree (a handful of rounds at most)."""
    at = max(decision.send_at, now)
    quiet_applies = ntype.respects_quiet_hours and quiet_hours.apply_to(decision.channel)
    if not ntype.respects_quiet_hours:
        decision.trace.append(trace_step("quiet_hours", "pass", f"{ntype.key} bypasses quiet hours"))
    elif not quiet_applies:
        decision.trace.append(trace_step("quiet_hours", "pass", f"quiet hours do not apply to {decision.channel}"))
    window = quiet_hours.window_for(recipient) if quiet_applies else None
    for _round in range(8):
        moved = False
        if quiet_applies:
            allowed = quiet_hours.next_allowed_moment(recipient, at)
            if allowed > at:
                decision.trace.append(
                    trace_step(
                        "quiet_hours",
                        "defer",
                        f"{quiet_hours.describe_local(recipient, at)} is outside the send window {window}; "
                        f"deferred to {quiet_hours.describe_local(recipient, allowed)}",
                    )
                )
                at, moved = allowed, True
            elif _round == 0:
                decision.trace.append(
                    trace_step(
                        "quiet_hours",
                        "pass",
                        f"{quiet_hours.describe_local(recipient, at)} is inside the send window {window}",
                    )
                )
        if ntype.has_frequency_cap:
            refused, at_after_cap = _apply_cap(
                decision, ntype=ntype, recipient=recipient, at=at, context=context, first_round=_round == 0
            )
            if refused:
                return
            moved = moved or at_after_cap != at
            at = at_after_cap
        if not moved:
            break
    decision.send_at = at if at > now else decision.send_at


def _apply_cap(
    decision: Decision,
    *,
    ntype: NotificationType,
    recipient: Recipient,
    at: datetime,
    context: DecisionContext,
    first_round: bool,
) -> tuple[bool, datetime]:
    """At most N per recipient in any window of W hours around the send. Returns (refused, moment)."""
    window = timedelta(hours=ntype.frequency_cap_window_hours)
    limit = ntype.frequency_cap_count
    times = context.cap_times(recipient, ntype, since=at - window)

    def used(moment: datetime) -> list[datetime]:
        return [t for t in times if moment - window < t < moment + window]

    clashing = used(at)
    cap = f"{limit} {ntype.key} per {ntype.frequency_cap_window_hours} h"
    if len(clashing) < limit:
        if first_round:  # later rounds only confirm a moment an earlier step already explained
            decision.trace.append(trace_step("frequency_cap", "pass", f"{len(clashing)} of {cap} used"))
        return False, at
    last = max(clashing)
    if ntype.frequency_cap_action == CapAction.SKIP:
        verdict = policy.Verdict(
            "frequency_cap",
            policy.REFUSE,
            f"skipped: {cap} already used (latest at {policy.when(last)})",
            code="frequency_cap",
        )
        decision.trace.append(trace_step(verdict.check, verdict.outcome, verdict.reason))
        decision.refusal = verdict
        return True, at
    for candidate in sorted(t + window for t in times if t + window > at):
        if len(used(candidate)) < limit:
            decision.trace.append(
                trace_step(
                    "frequency_cap",
                    "defer",
                    f"{cap} already used (latest at {policy.when(last)}); deferred to {policy.when(candidate)}",
                )
            )
            return False, candidate
    return False, at  # unreachable: the latest time + window always frees a slot


def send_window_at_send(notification: Notification, *, now: datetime) -> tuple[datetime, dict] | None:
    """The send window again, just before the provider call: a row accepted inside it may have waited past its
    end (behind a paced sender, a rate limit, a retry backoff). Then: (when it opens again, the trace step);
    None when it may go now."""
    ntype, recipient = notification.notification_type, notification.recipient
    if not (ntype.respects_quiet_hours and quiet_hours.apply_to(notification.channel)):
        return None
    allowed = quiet_hours.next_allowed_moment(recipient, now)
    if allowed <= now:
        return None
    step = trace_step(
        "quiet_hours",
        "defer",
        f"{quiet_hours.describe_local(recipient, now)} is outside the send window {quiet_hours.window_for(recipient)} "
        f"at send time (it waited in the queue); deferred to {quiet_hours.describe_local(recipient, allowed)}",
    )
    return allowed, step


def recheck_before_send(notification: Notification) -> policy.Verdict | None:
    """Suppression, consent and preference again, as of now: the refusal, or None when it may go."""
    (refusal,) = recheck_many_before_send([notification])
    return refusal


def recheck_many_before_send(notifications: list[Notification]) -> list[policy.Verdict | None]:
    """`recheck_before_send` for a claimed batch: one policy evaluation (its facts read together) for all; a
    single row costs one lean statement when it passes. A row without an address is not refused here: the
    outbound message reports the missing address as a permanent failure."""
    refusals: list[policy.Verdict | None] = [None] * len(notifications)
    for channel in {n.channel for n in notifications}:  # only the channels these rows go on: an email drain reads none
        if channels.exists(channel):
            channels.get(channel).preload([n.recipient for n in notifications if n.channel == channel])
    asked = [i for i, n in enumerate(notifications) if n.recipient.address_for(n.channel)]
    questions = [
        policy.PersonCheck.of(
            recipient=notifications[i].recipient,
            ntype=notifications[i].notification_type,
            channel=notifications[i].channel,
        )
        for i in asked
    ]
    for i, refusal in zip(asked, policy.person_refusals(questions) if questions else [], strict=True):
        refusals[i] = refusal
    return refusals
