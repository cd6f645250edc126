"""Delivering lifecycle events from the outbox: claim what is due, POST it signed, record the answers.

* Order per notification: a delivery is due only when no earlier one of the same notification to the same
  subscription is still pending, so a receiver never hears `delivered` before `sent`, even across retries (a
  failing event holds back only its own notification's later events, not the endpoint's other traffic).
* At least once: a claim is a lease (leased_until), not a state; a worker killed mid-POST leaves the lease to
  expire and the event is sent again with the same `webhook-id`, which receivers deduplicate on.
* Retries: 408, 409, 425, 429, 5xx and network errors retry after WEBHOOK_RETRY_BASE_SECONDS x 2^n (half to
  full, at random, capped by WEBHOOK_RETRY_MAX_SECONDS), or after the receiver's Retry-After if longer; until
  the endpoint answers or is disabled (WEBHOOK_DISABLE_AFTER_HOURS of failures, or a 410). Any other answer
  fails the delivery for good; staff can replay it.
* One pass claims WEBHOOK_EVENT_BATCH deliveries (each of a different notification or subscription) and sends
  them WEBHOOK_EVENT_CONCURRENCY at a time; outcomes are written with one statement per kind of answer.
"""

from __future__ import annotations

import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from commhub.queues import EVENTS_QUEUE
from notifications.queueing import task_later

from . import services
from .models import EventDelivery, EventSubscription
from .outbox import DELIVER_EVENTS_TASK
from .webhook import Delivery, deliver

logger = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = EventDelivery.State.PENDING, EventDelivery.State.DELIVERED, EventDelivery.State.FAILED
FOLLOW_UP_WITHIN = timedelta(seconds=60)  # retries due sooner get a run of their own; later ones wait for beat


def events_deliver(*, time_budget: float = 50.0, batch: int | None = None) -> int:
    """Deliver what is due, pass after pass, until nothing is or `time_budget` seconds are spent; returns how
    many events receivers took. Safe to run in several workers at once (claims skip each other's rows)."""
    started, taken = time.monotonic(), 0
    while time.monotonic() - started < time_budget:
        claimed = deliveries_claim(limit=batch or settings.WEBHOOK_EVENT_BATCH)
        if not claimed:
            break
        taken += _record(claimed, _send(claimed))
    _follow_up()
    return taken


def _due(now: datetime):
    earlier = EventDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        notification_id=OuterRef("notification_id"),
        state=PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        EventDelivery.objects.filter(state=PENDING, next_attempt_at__lte=now, subscription__enabled=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .exclude(Exists(earlier))
        .order_by("id")
    )


def deliveries_claim(*, limit: int) -> list[EventDelivery]:
    now = timezone.now()
    lease = now + timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    with transaction.atomic():
        ids = list(_due(now).select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:limit])
        EventDelivery.objects.filter(pk__in=ids).update(leased_until=lease)
    return list(EventDelivery.objects.filter(pk__in=ids).select_related("event", "subscription").order_by("id"))


def _send(claimed: list[EventDelivery]) -> list[Delivery]:
    def one(d: EventDelivery) -> Delivery:
        body = json.dumps(d.event.payload, ensure_ascii=False, separators=(",", ":")).encode()
        return deliver(d.subscription, message_id=d.event.public_id, body=body)

    if len(claimed) == 1:
        return [one(claimed[0])]
    with ThreadPoolExecutor(max_workers=min(len(claimed), settings.WEBHOOK_EVENT_CONCURRENCY)) as pool:
        return list(pool.map(one, claimed))


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential, jittered, capped; at least the
    receiver's Retry-After."""
    ceiling = min(settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)
    return max(delay, min(retry_after or 0, settings.WEBHOOK_RETRY_MAX_SECONDS))


def _record(claimed: list[EventDelivery], answers: list[Delivery]) -> int:
    """Write the answers: one UPDATE per kind of outcome and answer (a pass's answers are mostly alike), then each
    subscription's health once."""
    now = timezone.now()
    groups: dict[tuple, list[int]] = {}
    for d, answer in zip(claimed, answers, strict=True):
        if answer.ok:
            key: tuple = (DELIVERED, answer.said, None)
        elif answer.transient:  # retried: the delay (jittered per group) from this delivery's count of failures
            key = (PENDING, answer.said, retry_delay(d.attempts + 1, answer.retry_after))
        else:  # a 410 disables the subscription: its events wait for it to be enabled again; others fail
            key = (PENDING if answer.gone else FAILED, answer.said, None)
        groups.setdefault(key, []).append(d.pk)
    for (state, said, delay), ids in groups.items():
        fields: dict = {"state": state, "last_answer": said[:300], "last_attempt_at": now, "leased_until": None}
        if state == DELIVERED:
            fields["delivered_at"] = now
        if delay is not None:
            fields["next_attempt_at"] = now + timedelta(seconds=delay)
        EventDelivery.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, **fields)
    by_subscription: dict[int, list[Delivery]] = {}
    for d, answer in zip(claimed, answers, strict=True):
        by_subscription.setdefault(d.subscription_id, []).append(answer)
    for subscription_id, said in by_subscription.items():
        worked = next((a for a in said if a.ok), None)
        told = worked or next((a for a in said if a.gone), said[0])  # any success shows the endpoint is alive
        services.endpoint_answered(
            model=EventSubscription, endpoint_id=subscription_id, ok=bool(worked), said=told.said, gone=told.gone
        )
    return sum(1 for a in answers if a.ok)


def _follow_up() -> None:
    """A retry due within a minute gets a run at its time (best effort: beat's periodic run does it anyway)."""
    now = timezone.now()
    soonest = (
        EventDelivery.objects.filter(state=PENDING, subscription__enabled=True, next_attempt_at__gt=now)
        .filter(next_attempt_at__lte=now + FOLLOW_UP_WITHIN)
        .aggregate(at=Min("next_attempt_at"))["at"]
    )
    if soonest is not None:
        task_later(DELIVER_EVENTS_TASK, EVENTS_QUEUE, countdown=(soonest - now).total_seconds() + 0.05)
