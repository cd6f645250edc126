"""The lifecycle-event outbox: what happened to notifications, written for each subscription that wants it in the
transaction that made it happen (notifications.lifecycle announces there), and delivered after the commit
(event_delivery.py). A rolled-back change leaves no event; a committed one cannot lose its event.

The enabled subscriptions are a per-process snapshot (re-read every COMMHUB_CATALOGUE_CACHE_SECONDS, at once
in the process that changes one): with none, a status move costs nothing more; a new subscription hears the
changes made from a few seconds after it was created, everywhere.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from commhub import tenancy
from commhub.queues import EVENTS_QUEUE
from commhub.snapshot import Snapshot
from notifications.lifecycle import Happened, listener_add
from notifications.queueing import task_on_commit
from notifications.selectors import notification_type_by_id
from preferences.models import Recipient

from .models import EventDelivery, EventSubscription, LifecycleEvent


def _load_subscriptions() -> dict[int, list[EventSubscription]]:
    by_organisation: dict[int, list[EventSubscription]] = defaultdict(list)
    for subscription in EventSubscription.objects.filter(enabled=True, organisation__isnull=False).order_by("id"):
        by_organisation[int(subscription.organisation_id or 0)].append(subscription)
    return dict(by_organisation)


DELIVER_EVENTS_TASK = "hooks.events_deliver"
PUBLISH_EVENTS_TASK = "hooks.kafka_publish"


def kafka_publishing() -> bool:
    """Whether every lifecycle event also goes to a Kafka topic (KAFKA_LIFECYCLE_TOPIC on KAFKA_BOOTSTRAP_SERVERS)."""
    return bool(settings.KAFKA_BOOTSTRAP_SERVERS and settings.KAFKA_LIFECYCLE_TOPIC)


subscriptions = Snapshot(_load_subscriptions)


@receiver([post_save, post_delete], sender=EventSubscription, dispatch_uid="commhub-subscriptions-changed")
def _subscriptions_changed(**kwargs) -> None:
    subscriptions.invalidate()


def payload(h: Happened, *, uid: uuid.UUID, type_key: str, recipient: str) -> dict:
    """The body of an event (Standard Webhooks' shape: type, timestamp, data)."""
    return {
        "id": f"evt_{uid.hex}",
        "type": f"notification.{h.event}",
        "timestamp": h.at.isoformat(),
        "data": {
            "notification": str(h.notification_id),
            "notification_type": type_key,
            "channel": h.channel,
            "recipient": recipient,
            **h.detail,
        },
    }


class Outbox:
    def listening(self) -> bool:
        return kafka_publishing() or bool(subscriptions.get())

    def heard(self, happened: list[Happened]) -> None:
        by_organisation = subscriptions.get()
        kafka = kafka_publishing()
        wanted: list[tuple[Happened, str, list[EventSubscription]]] = []
        for h in happened:
            ntype = notification_type_by_id(h.notification_type_id)
            type_key = ntype.key if ntype is not None else ""
            subs = [
                s
                for s in by_organisation.get(h.organisation_id, ())
                if s.wants(event=h.event, type_key=type_key, channel=h.channel)
            ]
            if subs or kafka:
                wanted.append((h, type_key, subs))
        if wanted:
            _write(wanted, kafka=kafka)


def _write(wanted: list[tuple[Happened, str, list[EventSubscription]]], *, kafka: bool) -> None:
    with tenancy.everything():
        people = dict(
            Recipient.objects.filter(pk__in={h.recipient_id for h, _, _ in wanted}).values_list("id", "external_id")
        )
    events, deliveries = [], []
    for h, type_key, subs in wanted:
        uid = uuid.uuid4()
        event = LifecycleEvent(
            organisation_id=h.organisation_id,
            uid=uid,
            notification_id=h.notification_id,
            name=h.event,
            occurred_at=h.at,
            payload=payload(h, uid=uid, type_key=type_key, recipient=people.get(h.recipient_id, "")),
            kafka_pending=kafka,
        )
        events.append(event)
        deliveries += [
            EventDelivery(
                organisation_id=h.organisation_id,
                event=event,
                subscription_id=s.pk,
                notification_id=h.notification_id,
                next_attempt_at=h.at,
            )
            for s in subs
        ]
    LifecycleEvent.objects.bulk_create(events)
    for delivery in deliveries:
        delivery.event_id = delivery.event.pk  # set by the insert
    EventDelivery.objects.bulk_create(deliveries)
    if deliveries:
        task_on_commit(DELIVER_EVENTS_TASK, EVENTS_QUEUE)
    if kafka:
        task_on_commit(PUBLISH_EVENTS_TASK, EVENTS_QUEUE)


listener_add(Outbox())
