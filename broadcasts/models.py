"""Topics people subscribe to, and broadcasts: one type sent to a topic's subscribers or an audience.

A broadcast is staged: staff write it (draft), run a dry run (how many it reaches, how many each check would
refuse, what it would cost), start it, and may pause, resume or cancel it. The fan-out walks the audience in
recipient-id order, a chunk per transaction that writes the chunk's notifications and moves the cursor together:
a worker killed between chunks leaves the cursor where the committed notifications end, so whoever resumes sends
nobody twice.
"""

from __future__ import annotations

from django.db import models

from commhub.tenancy import OrganisationScoped, organisation_field


class ThroughTopic(OrganisationScoped):
    path = "topic__organisation"


class Topic(models.Model):
    organisation = organisation_field()
    key = models.SlugField(max_length=80, help_text="E.g. product-updates.")
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    self_service = models.BooleanField(default=True, help_text="People may subscribe and unsubscribe through /me/.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["organisation", "key"], name="topic_key_once_per_organisation")]

    def __str__(self) -> str:
        return self.key


class TopicSubscription(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ThroughTopic()

    class Meta:
        ordering = ["topic", "recipient"]
        constraints = [models.UniqueConstraint(fields=["topic", "recipient"], name="topic_subscription_once")]

    def __str__(self) -> str:
        return f"{self.recipient_id} on {self.topic_id}"


class Broadcast(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Sending"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"

    class Audience(models.TextChoices):
        TOPIC = "topic", "A topic's subscribers"
        FILTER = "filter", "Recipients whose attributes match"
        ALL = "all", "Everyone"

    organisation = organisation_field()
    name = models.CharField(max_length=200)
    notification_type = models.ForeignKey("notifications.NotificationType", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, blank=True, help_text="Blank: the type's and recipient's choice.")
    data = models.JSONField(default=dict, blank=True)
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.TOPIC)
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="broadcasts")
    attribute_filter = models.JSONField(default=dict, blank=True, help_text='E.g. {"plan": "pro"}.')
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    audience_size = models.PositiveIntegerField(null=True, blank=True, help_text="When it started.")
    cursor = models.BigIntegerField(default=0, help_text="The last recipient id fanned out.")
    processed = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0, help_text="Notifications queued or scheduled.")
    refused = models.JSONField(default=dict, blank=True, help_text="Suppressed, by the check that refused.")
    invalid = models.PositiveIntegerField(default=0, help_text="Items the type or template refused.")
    dry_run = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def progress(self) -> float | None:
        return self.processed / self.audience_size if self.audience_size else None
