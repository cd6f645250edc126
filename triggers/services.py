"""Taking events in: store each once, then let the rules listening for it decide (evaluation.py), in one
transaction, so that a stream consumer that commits its offset after this returns has lost nothing and, replaying,
duplicates nothing (the event id is stored with what it made).

Also the writes staff make to rules: a draft version, publishing it (the previous live one retires).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from commhub.errors import Conflict, InvalidInput
from commhub.tenancy import acting_organisation_id

from .evaluation import events_decide
from .expressions import ExpressionError, check
from .models import Event, Rule, RuleVersion

logger = logging.getLogger(__name__)


@dataclass
class EventIn:
    """One event as a producer reported it (the API's and the consumers' parsed form)."""

    uid: str
    name: str
    occurred_at: datetime
    actor: str = ""
    recipients: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ingested:
    event: Event
    duplicate: bool  # its id was seen before: nothing was done again


def _stored(items: Sequence[EventIn], *, source: str) -> tuple[list[Event], dict[str, Event]]:
    """The new events written (the ones whose id this organisation has not seen), and the earlier ones by id."""
    organisation = acting_organisation_id()
    uids = {item.uid for item in items}
    earlier = {e.uid: e for e in Event.objects.filter(organisation_id=organisation, uid__in=uids)}
    fresh: dict[str, Event] = {}
    for item in items:
        if item.uid in earlier or item.uid in fresh:
            continue
        fresh[item.uid] = Event(
            organisation_id=organisation,
            uid=item.uid,
            name=item.name,
            occurred_at=item.occurred_at,
            actor=item.actor,
            recipients=list(item.recipients),
            data=dict(item.data),
            source=source,
        )
    try:
        with transaction.atomic():
            Event.objects.bulk_create(list(fresh.values()))
        return list(fresh.values()), earlier
    except IntegrityError:  # another producer stored one of these ids meanwhile: one at a time, that one skipped
        written = []
        for event in fresh.values():
            try:
                with transaction.atomic():
                    event.save(force_insert=True)
                written.append(event)
            except IntegrityError:
                earlier[event.uid] = Event.objects.get(organisation_id=organisation, uid=event.uid)
        return written, earlier


def events_ingest(items: Sequence[EventIn], *, source: str = Event.Source.API) -> list[Ingested]:
    """Store the events (an id seen before is a duplicate, left as it was) and run the rules on the new ones, in
    one transaction. Results follow `items`' order."""
    with transaction.atomic():
        fresh, earlier = _stored(items, source=source)
        if fresh:
            events_decide(fresh)
    new = {e.uid: e for e in fresh}
    results, told = [], set()
    for item in items:
        if item.uid in new and item.uid not in told:
            results.append(Ingested(event=new[item.uid], duplicate=False))
            told.add(item.uid)
        else:
            results.append(Ingested(event=new.get(item.uid) or earlier[item.uid], duplicate=True))
    logger.info("%d event(s) taken from %s, %d duplicate(s)", len(fresh), source, len(items) - len(fresh))
    return results


def rule_version_draft(*, rule: Rule, actor: Any = None, **behaviour: Any) -> RuleVersion:
    """A new draft of `rule` (the next number), its expressions checked."""
    problems = {}
    if behaviour.get("digest") and behaviour.get("delay_seconds"):
        problems["delay_seconds"] = ["A digesting rule sends when its window closes: no delay as well."]
    for name in ("condition", "recipients_expression", "digest_key"):
        try:
            check(behaviour.get(name) or "")
        except ExpressionError as exc:
            problems[name] = [str(exc)]
    for variable, source in (behaviour.get("data_map") or {}).items():
        try:
            check(str(source))
        except ExpressionError as exc:
            problems.setdefault("data_map", []).append(f"{variable}: {exc}")
    if problems:
        raise InvalidInput(problems)
    with transaction.atomic():
        last = rule.versions.select_for_update().order_by("-number").first()
        version = RuleVersion.objects.create(
            rule=rule, number=(last.number + 1) if last else 1, created_by=str(actor or "")[:150], **behaviour
        )
    return version


def rule_version_publish(*, version: RuleVersion, actor: Any = None) -> RuleVersion:
    """Make `version` the live one (the live one before it retires). A published version never changes."""
    if version.state != RuleVersion.State.DRAFT:
        raise Conflict(f"{version} is {version.state}; only a draft can be published")
    expressions = (version.condition, version.recipients_expression, version.digest_key)
    for source in (*expressions, *map(str, version.data_map.values())):
        try:
            check(source)
        except ExpressionError as exc:
            raise InvalidInput({"expression": [str(exc)]}) from None
    with transaction.atomic():
        RuleVersion.objects.filter(rule=version.rule, state=RuleVersion.State.PUBLISHED).update(
            state=RuleVersion.State.RETIRED
        )
        version.state, version.published_at = RuleVersion.State.PUBLISHED, timezone.now()
        version.save(update_fields=["state", "published_at"])
        audit_record(action="rule.publish", obj=version, actor=actor, before={}, after={"number": version.number})
    return version
