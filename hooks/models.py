"""Endpoints commhub POSTs to, each with its own signing secret (Standard Webhooks), rotated with an overlap
during which both are used: a person's systems reached through the webhook channel (WebhookEndpoint), and a
product backend's receiver of lifecycle events (EventSubscription), with the outbox of those events
(LifecycleEvent: one per thing that happened; EventDelivery: one per event and subscription)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from commhub.tenancy import OrganisationScoped, organisation_field


class SignedEndpoint(models.Model):
    organisation = organisation_field()
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=64, help_text="whsec_...: signs every request (Standard Webhooks).")
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_until = models.DateTimeField(
        null=True, blank=True, help_text="Until then requests carry signatures by both the new and the old secret."
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_answer = models.CharField(max_length=300, blank=True, help_text="The endpoint's last answer, or why none.")
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="First failure since its last success (disabled after WEBHOOK_DISABLE_AFTER_HOURS).",
    )

    objects = OrganisationScoped()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url[:80]


class WebhookEndpoint(SignedEndpoint):
    recipient = models.ForeignKey(
        "preferences.Recipient",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose endpoint it is: the webhook channel delivers this person's notifications to it.",
    )

    class Meta(SignedEndpoint.Meta):
        indexes = [models.Index(fields=["recipient"], name="webhook_endpoint_of")]


class EventSubscription(SignedEndpoint):
    """A product backend's receiver of lifecycle events (notification.sent, .delivered, ...)."""

    events = models.JSONField(default=list, blank=True, help_text="Event names (sent, delivered, ...); empty: all.")
    notification_types = models.JSONField(default=list, blank=True, help_text="Type keys; empty: every type.")
    channels = models.JSONField(default=list, blank=True, help_text="Channel names; empty: every channel.")

    class Meta(SignedEndpoint.Meta):
        pass

    def wants(self, *, event: str, type_key: str, channel: str) -> bool:
        return (
            (not self.events or event in self.events)
            and (not self.notification_types or type_key in self.notification_types)
            and (not self.channels or channel in self.channels)
        )


class LifecycleEvent(models.Model):
    """Something that happened to a notification, written in the transaction that made it happen."""

    organisation = organisation_field()
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="evt_<uid>: its webhook-id.")
    notification = models.ForeignKey("notifications.Notification", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=32, help_text="notification.<name>")
    occurred_at = models.DateTimeField()
    payload = models.JSONField(help_text="The body every subscriber receives.")
    kafka_pending = models.BooleanField(default=False, help_text="Still to publish to KAFKA_LIFECYCLE_TOPIC.")

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["id"], name="lifecycle_kafka_pending_idx", condition=Q(kafka_pending=True))]

    def __str__(self) -> str:
        return f"evt_{self.uid.hex} notification.{self.name}"

    @property
    def public_id(self) -> str:
        return f"evt_{self.uid.hex}"


class EventDelivery(models.Model):
    """One event to one subscription: pending until the receiver answers 2xx (retried with backoff meanwhile, in
    order per notification), failed when it refuses it for good; staff replay either."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    organisation = organisation_field()
    event = models.ForeignKey(LifecycleEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(EventSubscription, on_delete=models.CASCADE, related_name="deliveries")
    notification_id = models.UUIDField(help_text="The event's notification (events of one go in order).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_answer = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "event deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="event_delivery_due", condition=Q(state="pending")),
            models.Index(fields=["subscription", "notification_id", "id"], name="event_delivery_order"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription}"
