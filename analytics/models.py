"""Reporting: daily rollups per type x channel x provider, cost per recipient per day, queue-depth samples.

(Prices, the cost ledger and budgets are in the costs app.)
"""

from __future__ import annotations

from django.db import models

from commhub import channels
from commhub.tenancy import OperatorOnly, OrganisationScoped, ThroughRecipient, organisation_field


class DailyRollup(models.Model):
    """Per day (UTC, the notification's submit day) x type x channel x provider x currency: what happened to
    the notifications submitted that day, and what they cost. Rebuilt from the rows by `rollups_build`, so it
    always reconciles with the ledger (`rollups_reconcile` checks)."""

    organisation = organisation_field(on_delete=models.CASCADE)
    day = models.DateField()
    notification_type = models.ForeignKey(
        "notifications.NotificationType", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=16, choices=channels.choices)
    provider = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    submitted = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0, help_text="Handed to a provider (whatever happened next).")
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0, help_text="SMS segments / emails billed.")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    ttd_p50_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to deliver, median.")
    ttd_p95_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to deliver, 95th percentile.")
    built_at = models.DateTimeField(auto_now=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-day", "notification_type", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "day", "notification_type", "channel", "provider", "currency"],
                name="rollup_one_per_organisation_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.notification_type_id}/{self.channel}/{self.provider or '-'}"

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sent if self.sent else None


class RecipientDailyCost(models.Model):
    """Per day x recipient x channel x currency: messages sent and what they cost (seed: cost per user per day)."""

    day = models.DateField()
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(max_length=16, choices=channels.choices)
    currency = models.CharField(max_length=3, default="USD")
    messages = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    objects = ThroughRecipient()

    class Meta:
        ordering = ["-day", "-cost"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "recipient", "channel", "currency"], name="recipient_cost_one_per_day"
            )
        ]
        indexes = [models.Index(fields=["recipient", "day"], name="recipient_cost_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.day} recipient {self.recipient_id} {self.channel}: {self.cost} {self.currency}"


class QueueDepthSample(models.Model):
    """How many rows each queue held at a moment (sampled by a periodic task, charted on the dashboard)."""

    at = models.DateTimeField(db_index=True)
    queue = models.CharField(max_length=32)
    ready = models.PositiveIntegerField(help_text="Queued and due: waiting for a worker.")
    waiting = models.PositiveIntegerField(help_text="Scheduled or waiting for a retry.")
    sending = models.PositiveIntegerField(help_text="Claimed by a worker.")

    objects = OperatorOnly()

    class Meta:
        ordering = ["-at", "queue"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.queue}: {self.ready} ready"
