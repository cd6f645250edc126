"""What the rules make of new events, inside the transaction that stores them:

1. cancellations: a new event whose name a delayed rule lists in `cancel_on` cancels that rule's delayed
   notifications to the same recipients (found by the delayed rule's own recipient logic over the new event);
2. matching: every enabled rule listening for the event's name runs its live version: the condition, the
   recipients, the template data (CEL), then one notification per recipient, submitted together for the whole
   batch of events. Its trace starts with "event `payment.failed` #evt_123 matched rule `dunning` v3".

Every outcome is a RuleRun (made, delayed, skipped, failed, refused, cancelled): a rule that errors on some
data is a recorded failure, never an exception to the producer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from commhub.errors import Conflict
from notifications.services import SubmitRequest, notification_cancel, notifications_submit_batch

from .digests import digest_add
from .expressions import ExpressionError, activation, evaluate
from .models import Event, RuleRun, RuleVersion

Outcome = RuleRun.Outcome

# Who sends a rule's notification to a topic's subscribers (the broadcasts app registers itself in its ready():
# a topic may have a hundred thousand subscribers, so it goes out as a broadcast, not in the event's transaction).
TopicSender = Callable[[RuleVersion, Event, dict], str]
_topic_senders: list[TopicSender] = []


def topic_sender_set(sender: TopicSender) -> None:
    _topic_senders[:] = [sender]


@dataclass
class Planned:
    """A notification a rule decided on, before the batch is submitted."""

    event: Event
    version: RuleVersion
    recipient: str
    request: SubmitRequest
    digest_key: str | None = None  # a digesting rule's: the item goes to its window, not straight out


def _context(event: Event) -> dict:
    return activation(name=event.name, uid=event.uid, occurred_at=event.occurred_at, actor=event.actor, data=event.data)


def recipients_for(version: RuleVersion, event: Event, context: dict) -> list[str]:
    if version.recipients_from == RuleVersion.Recipients.TOPIC:
        raise ExpressionError(f"topic {version.recipients_topic!r}: its subscribers are reached by a broadcast")
    if version.recipients_from == RuleVersion.Recipients.EVENT:
        chosen: Any = event.recipients
    else:
        chosen = evaluate(version.recipients_expression, context)
    if isinstance(chosen, str | int):
        chosen = [chosen]
    if not isinstance(chosen, list) or not all(isinstance(r, str | int) and str(r).strip() for r in chosen):
        raise ExpressionError(f"recipients must be external ids (a string or a list of strings), not {chosen!r}")
    return list(dict.fromkeys(str(r).strip() for r in chosen))


def _plan(event: Event, version: RuleVersion, runs: list[RuleRun]) -> list[Planned]:
    """One rule version on one event: its planned notifications, or the run that says why there are none."""
    context = _context(event)
    try:
        if version.condition.strip():
            verdict = evaluate(version.condition, context)
            if not isinstance(verdict, bool):
                raise ExpressionError(f"the condition gave {verdict!r}, not true or false")
            if not verdict:
                runs.append(
                    RuleRun(event=event, rule_version=version, outcome=Outcome.SKIPPED, detail="condition false")
                )
                return []
        if version.recipients_from == RuleVersion.Recipients.TOPIC:
            return _to_topic(version, event, context, runs)
        recipients = recipients_for(version, event, context)
        if not recipients:
            raise ExpressionError("no recipients: the event names none")
        data = _data(version, event, context)
        key = None
        if version.digest:
            key = str(evaluate(version.digest_key, context))[:200] if version.digest_key.strip() else ""
    except ExpressionError as exc:
        runs.append(RuleRun(event=event, rule_version=version, outcome=Outcome.FAILED, detail=str(exc)[:2000]))
        return []
    cause = f"event `{event.name}` #{event.uid} matched rule `{version.rule.key}` v{version.number}"
    send_at = event.occurred_at + timedelta(seconds=version.delay_seconds) if version.delay_seconds else None
    if send_at:
        cause += f", delayed {version.delay_seconds} s"
    return [
        Planned(
            event=event,
            version=version,
            recipient=recipient,
            request=SubmitRequest(
                recipient=recipient,
                type=version.notification_type.key,
                data=data,
                channel=version.channel or None,
                send_at=send_at,
                cause=cause,
            ),
            digest_key=key,
        )
        for recipient in recipients
    ]


def _data(version: RuleVersion, event: Event, context: dict) -> dict:
    """The template data: the version's data map evaluated, or (none) the event's data as it is."""
    return {name: evaluate(str(source), context) for name, source in version.data_map.items()} or event.data


def _to_topic(version: RuleVersion, event: Event, context: dict, runs: list[RuleRun]) -> list[Planned]:
    data = _data(version, event, context)
    if not _topic_senders:
        raise ExpressionError("topics are not installed here (the broadcasts app)")
    try:
        detail = _topic_senders[0](version, event, data)
    except ValueError as exc:
        raise ExpressionError(str(exc)) from None
    runs.append(RuleRun(event=event, rule_version=version, outcome=Outcome.BROADCAST, detail=detail[:2000]))
    return []


def _cancellations(events: list[Event], versions: list[RuleVersion]) -> list[RuleRun]:
    """Delayed runs the new events cancel, cancelled (their notification too, unless already sent): one query
    per rule version listening, whatever the number of events."""
    cancelling: dict[RuleVersion, dict[str, Event]] = defaultdict(dict)  # version -> recipient -> the first event
    for event in events:
        for version in (v for v in versions if event.name in (v.cancel_on or [])):
            try:
                recipients = recipients_for(version, event, _context(event))
            except ExpressionError:
                continue  # this event does not say whom: it cancels nothing of this rule's
            for recipient in recipients:
                cancelling[version].setdefault(recipient, event)
    cancelled = []
    for version, by_recipient in cancelling.items():
        for run in RuleRun.objects.filter(rule_version=version, recipient__in=by_recipient, outcome=Outcome.DELAYED):
            event = by_recipient[run.recipient]
            run.outcome, run.detail = Outcome.CANCELLED, f"cancelled by event `{event.name}` #{event.uid}"
            if run.notification_id:
                try:
                    notification_cancel(notification_id=run.notification_id, actor=f"event {event.name} #{event.uid}")
                except Conflict as exc:
                    run.outcome, run.detail = Outcome.SENT, f"{event.name} #{event.uid} came too late: {exc}"
            cancelled.append(run)
    RuleRun.objects.bulk_update(cancelled, ["outcome", "detail"])
    return cancelled


def events_decide(events: list[Event]) -> None:
    """Run the rules on newly stored events (the caller's transaction)."""
    organisation = events[0].organisation_id or 0  # always set: events are stored with their organisation
    live = list(
        RuleVersion.objects.filter(
            state=RuleVersion.State.PUBLISHED, rule__enabled=True, rule__organisation_id=organisation
        ).select_related("rule", "notification_type")
    )
    # any version, live or retired, whose delayed sends later events cancel
    delayed = list(
        RuleVersion.objects.filter(rule__organisation_id=organisation, delay_seconds__gt=0).exclude(cancel_on=[])
    )
    _cancellations(events, delayed)
    by_name: dict[str, list[RuleVersion]] = defaultdict(list)
    for version in live:
        by_name[version.rule.event_name].append(version)
    runs: list[RuleRun] = []
    planned: list[Planned] = []
    for event in events:
        for version in by_name.get(event.name, []):
            planned.extend(_plan(event, version, runs))
    digested = [p for p in planned if p.digest_key is not None]
    runs.extend(
        digest_add([(p.version, p.event, p.recipient, p.digest_key or "", dict(p.request.data)) for p in digested])
    )
    planned = [p for p in planned if p.digest_key is None]
    results = notifications_submit_batch([p.request for p in planned]) if planned else []
    made: dict[int, int] = defaultdict(int)
    for plan, result in zip(planned, results, strict=True):
        if result.ok:
            outcome = Outcome.DELAYED if plan.version.delay_seconds else Outcome.SENT
            run = RuleRun(event=plan.event, rule_version=plan.version, recipient=plan.recipient, outcome=outcome)
            run.notification = result.notification
            made[plan.event.pk] += 1
        else:
            detail = json.dumps(result.errors, default=str)[:2000]
            run = RuleRun(
                event=plan.event,
                rule_version=plan.version,
                recipient=plan.recipient,
                outcome=Outcome.REFUSED,
                detail=detail,
            )
        runs.append(run)
    RuleRun.objects.bulk_create(runs, batch_size=1000)
    counted: dict[tuple[int, int], list[int]] = defaultdict(list)  # one UPDATE per pair of counts, not a CASE per row
    for event in events:
        event.rules_matched = len(by_name.get(event.name, []))
        event.notifications_made = made.get(event.pk, 0)
        counted[(event.rules_matched, event.notifications_made)].append(event.pk)
    for (rules, notifications), ids in counted.items():
        if rules or notifications:
            Event.objects.filter(pk__in=ids).update(rules_matched=rules, notifications_made=notifications)
