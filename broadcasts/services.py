"""Topics and broadcasts: subscribing, the audience, the dry run, and the fan-out.

The dry run prepares every recipient's notification through the real submit path inside transactions that are
rolled back, so its counts are what the send would do now: accepted, deferred (quiet hours, a cap), refused by
each check (consent, preference, suppression, budget, ...), invalid, and the cost by channel and currency.

The fan-out (`broadcast_advance`) takes the broadcast's row lock (SKIP LOCKED: one worker at a time per
broadcast), submits the next chunk of the audience in recipient-id order and moves the cursor in the same
transaction. Pause and cancel are read under that lock before every chunk.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.services import audit_record
from commhub import tenancy
from commhub.conf import knobs
from commhub.errors import Conflict, InvalidInput
from commhub.queues import MAINTENANCE_QUEUE
from notifications.constants import Status
from notifications.queueing import task_on_commit
from notifications.services import BatchItemResult, SubmitRequest, notifications_submit_batch
from preferences.models import Recipient
from preferences.selectors import recipients_for_audiences

from .models import Broadcast, Topic, TopicSubscription


def topics_counted(topics: QuerySet[Topic] | None = None) -> QuerySet[Topic]:
    """Topics with their subscriber count (`subscriber_count`), in one query."""
    return (Topic.objects.order_by("key") if topics is None else topics).annotate(
        subscriber_count=Count("subscriptions")
    )


logger = logging.getLogger(__name__)
CHUNK = 1000
ADVANCE_TASK = "broadcasts.advance"


# --- topics ---------------------------------------------------------------------------------------------------


def topic_subscribe(*, topic: Topic, recipients: Iterable[Recipient]) -> int:
    """Subscribe recipients (already subscribed ones stay as they were). Returns how many were new."""
    people = {r.pk: r for r in recipients}
    already = set(
        TopicSubscription.objects.filter(topic=topic, recipient_id__in=people).values_list("recipient_id", flat=True)
    )
    rows = [TopicSubscription(topic=topic, recipient=r) for pk, r in people.items() if pk not in already]
    TopicSubscription.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)  # a concurrent add: no error
    return len(rows)


def topic_unsubscribe(*, topic: Topic, recipients: Iterable[Recipient]) -> int:
    deleted, _ = TopicSubscription.objects.filter(topic=topic, recipient__in=list(recipients)).delete()
    return deleted


# --- the audience and what a send to it would do ----------------------------------------------------------------


def broadcast_audience(broadcast: Broadcast) -> QuerySet[Recipient]:
    """Who it reaches, in recipient-id order (the fan-out's cursor order)."""
    organisation = broadcast.organisation_id or tenancy.DEFAULT_ORGANISATION_ID
    recipients = recipients_for_audiences().filter(organisation_id=organisation)
    if broadcast.audience == Broadcast.Audience.TOPIC:
        recipients = recipients.filter(
            pk__in=TopicSubscription.objects.filter(topic_id=broadcast.topic_id or 0).values("recipient_id")
        )
    elif broadcast.audience == Broadcast.Audience.FILTER:
        recipients = recipients.filter(**{f"attributes__{k}": v for k, v in broadcast.attribute_filter.items()})
    return recipients.order_by("pk")


def broadcast_check(broadcast: Broadcast) -> None:
    """Refuse a broadcast that cannot be sent as written."""
    problems: dict[str, list[str]] = {}
    if broadcast.audience == Broadcast.Audience.TOPIC and broadcast.topic_id is None:
        problems["topic"] = ["A topic broadcast names its topic."]
    if broadcast.audience == Broadcast.Audience.FILTER and not (
        isinstance(broadcast.attribute_filter, dict) and broadcast.attribute_filter
    ):
        problems["attribute_filter"] = ['An object of attributes to match, e.g. {"plan": "pro"}.']
    if not isinstance(broadcast.data, dict):
        problems["data"] = ["An object: the template's variables."]
    if problems:
        raise InvalidInput(problems)


def _requests(broadcast: Broadcast, external_ids: list[str]) -> list[SubmitRequest]:
    cause = f"broadcast `{broadcast.name}` #{broadcast.pk}"
    return [
        SubmitRequest(
            recipient=external_id,
            type=broadcast.notification_type.key,
            channel=broadcast.channel or None,
            data=broadcast.data,
            cause=cause,
        )
        for external_id in external_ids
    ]


class Tally:
    """What a chunk's submits came to."""

    def __init__(self) -> None:
        self.accepted = self.deferred = self.invalid = 0
        self.refused: Counter[str] = Counter()
        self.cost: dict[str, dict[str, Decimal]] = {}

    def add(self, results: list[BatchItemResult]) -> None:
        for result in results:
            n = result.notification
            if n is None:
                self.invalid += 1
            elif n.status == Status.SUPPRESSED:
                self.refused[n.error_code or "refused"] += 1
            else:
                self.accepted += 1
                self.deferred += n.status == Status.SCHEDULED
                if n.cost:
                    by_currency = self.cost.setdefault(n.channel, {})
                    by_currency[n.currency] = by_currency.get(n.currency, Decimal(0)) + n.cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "deferred": self.deferred,
            "refused": dict(sorted(self.refused.items())),
            "invalid": self.invalid,
            "cost": {ch: {cur: str(v) for cur, v in sorted(c.items())} for ch, c in sorted(self.cost.items())},
        }


class _RolledBack(Exception):
    pass


def broadcast_dry_run(*, broadcast: Broadcast) -> dict[str, Any]:
    """What sending it now would do, recipient by recipient, nothing kept. Saved on the broadcast and returned."""
    broadcast_check(broadcast)
    tally, cursor, reached = Tally(), 0, 0
    with tenancy.within(broadcast.organisation_id or tenancy.DEFAULT_ORGANISATION_ID):
        while True:
            chunk = list(broadcast_audience(broadcast).filter(pk__gt=cursor).values_list("pk", "external_id")[:CHUNK])
            if not chunk:
                break
            try:
                with transaction.atomic():
                    tally.add(notifications_submit_batch(_requests(broadcast, [e for _, e in chunk])))
                    raise _RolledBack
            except _RolledBack:
                pass
            cursor, reached = chunk[-1][0], reached + len(chunk)
    broadcast.dry_run = {"recipients": reached, **tally.as_dict(), "at": timezone.now().isoformat()}
    Broadcast.objects.filter(pk=broadcast.pk).update(dry_run=broadcast.dry_run)
    return broadcast.dry_run


# --- the send ---------------------------------------------------------------------------------------------------


def broadcast_start(*, broadcast: Broadcast, actor: Any = None) -> Broadcast:
    broadcast_check(broadcast)
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.state != Broadcast.State.DRAFT:
            raise Conflict(f"{locked} is {locked.get_state_display().lower()}; only a draft starts")
        locked.state, locked.started_at = Broadcast.State.RUNNING, timezone.now()
        locked.audience_size = broadcast_audience(locked).count()
        locked.save(update_fields=["state", "started_at", "audience_size", "updated_at"])
        audit_record(action="broadcast.start", obj=locked, actor=actor, after={"audience": locked.audience_size})
        task_on_commit(ADVANCE_TASK, MAINTENANCE_QUEUE)
    return locked


_MOVES = {
    "pause": ({Broadcast.State.RUNNING}, Broadcast.State.PAUSED),
    "resume": ({Broadcast.State.PAUSED}, Broadcast.State.RUNNING),
    "cancel": ({Broadcast.State.DRAFT, Broadcast.State.RUNNING, Broadcast.State.PAUSED}, Broadcast.State.CANCELLED),
}


def broadcast_move(*, broadcast: Broadcast, move: str, actor: Any = None) -> Broadcast:
    """Pause, resume or cancel. A chunk being sent finishes; the next one sees the new state."""
    sources, target = _MOVES[move]
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)  # waits for a chunk in flight
        if locked.state not in sources:
            raise Conflict(f"cannot {move} {locked}: it is {locked.get_state_display().lower()}")
        locked.state = target
        if target == Broadcast.State.CANCELLED:
            locked.finished_at = timezone.now()
        locked.save(update_fields=["state", "finished_at", "updated_at"])
        audit_record(action=f"broadcast.{move}", obj=locked, actor=actor, after={"processed": locked.processed})
        if target == Broadcast.State.RUNNING:
            task_on_commit(ADVANCE_TASK, MAINTENANCE_QUEUE)
    return locked


def _chunk(broadcast_id: int) -> bool | None:
    """Send the next chunk of one broadcast. True: more to do; False: it is done or stopped; None: busy
    (another worker holds it)."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notification_type")
            .filter(pk=broadcast_id)
            .first()
        )
        if broadcast is None:
            return None
        if broadcast.state != Broadcast.State.RUNNING:
            return False
        chunk = list(
            broadcast_audience(broadcast).filter(pk__gt=broadcast.cursor).values_list("pk", "external_id")[:CHUNK]
        )
        if not chunk:
            broadcast.state, broadcast.finished_at = Broadcast.State.DONE, timezone.now()
            broadcast.save(update_fields=["state", "finished_at", "updated_at"])
            return False
        tally = Tally()
        with tenancy.within(broadcast.organisation_id or tenancy.DEFAULT_ORGANISATION_ID):
            tally.add(notifications_submit_batch(_requests(broadcast, [e for _, e in chunk])))
        refused = Counter(broadcast.refused) + tally.refused
        broadcast.cursor, broadcast.processed = chunk[-1][0], broadcast.processed + len(chunk)
        broadcast.accepted, broadcast.invalid = broadcast.accepted + tally.accepted, broadcast.invalid + tally.invalid
        broadcast.refused = dict(sorted(refused.items()))
        broadcast.save(update_fields=["cursor", "processed", "accepted", "invalid", "refused", "updated_at"])
        return True


def broadcasts_advance(*, time_budget: float = 50.0) -> int:
    """Fan out every running broadcast a chunk at a time for up to `time_budget` seconds (the beat re-runs it;
    a worker that died mid-way is replaced by the next run). Returns the chunks sent."""
    began, sent = time.monotonic(), 0
    with tenancy.everything():
        running = list(Broadcast.objects.filter(state=Broadcast.State.RUNNING).values_list("pk", flat=True))
    for broadcast_id in running:
        while time.monotonic() - began < time_budget:
            with tenancy.everything():
                more = _chunk(broadcast_id)
            if not more:
                break
            sent += 1
    if time.monotonic() - began >= time_budget:
        task_on_commit(ADVANCE_TASK, MAINTENANCE_QUEUE)  # more to do: the next run goes on at once
    return sent


def broadcast_dry_run_later(*, broadcast: Broadcast) -> bool:
    """The dry run now when the audience is small (COMMHUB_BROADCAST_INLINE_DRY_RUN recipients at most: the
    counts are on the page at once), else on a worker (its result lands on the row). True when it ran now."""
    broadcast_check(broadcast)
    if broadcast_audience(broadcast).count() <= knobs().broadcast_inline_dry_run:
        broadcast_dry_run(broadcast=broadcast)
        return True
    Broadcast.objects.filter(pk=broadcast.pk).update(dry_run={"running_since": timezone.now().isoformat()})
    transaction.on_commit(
        lambda: current_app.send_task("broadcasts.dry_run", args=[broadcast.pk], queue=MAINTENANCE_QUEUE)
    )
    return False


def rule_broadcast(version: Any, event: Any, data: dict) -> str:
    """A rule's notification to a topic's subscribers (triggers.evaluation calls this): a broadcast started in the
    event's transaction, fanned out after it. Raises ValueError when the topic does not exist."""
    topic = Topic.objects.filter(key=version.recipients_topic).first()
    if topic is None:
        raise ValueError(f"no topic {version.recipients_topic!r}")
    broadcast = Broadcast.objects.create(
        name=f"rule {version.rule.key} v{version.number}, event {event.name} #{event.uid}"[:200],
        notification_type=version.notification_type,
        channel=version.channel,
        data=data,
        audience=Broadcast.Audience.TOPIC,
        topic=topic,
        created_by=f"rule {version.rule.key}"[:150],
    )
    started = broadcast_start(broadcast=broadcast, actor=f"rule {version.rule.key}")
    return f"broadcast #{started.pk} to topic {topic.key} ({started.audience_size} subscribers)"
