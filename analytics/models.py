"""Reporting: daily rollups per type x channel x provider, cost per recipient per day, queue-depth samples.

(Prices, the cost ledger and budgets are in the costs app.)
"""

from __future__ import annotations

from django.db import models

from commhub import channels
from commhub.tenancy import OperatorOnly, OrganisationScoped, ThroughRecipient, organisation_field


class DailyRollup(models.Model):
    """Per day (UTC, the notification's submit day) x type x channel x provider x currency: what happened to
    the notifications submitted that day, and what they cost. Kept current by the incremental pass
    (`rollups_fold`) and rebuilt from the rows by `rollups_build`; both reconcile with the ledger
    (`rollups_reconcile` checks)."""

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
    cancelled = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    still_sent = models.PositiveIntegerField(
        default=0, help_text="Now `sent`: handed to a provider, no delivery or failure reported (yet)."
    )
    bounced = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    digested = models.PositiveIntegerField(default=0, help_text="Gathered into their type's digest.")
    units = models.PositiveIntegerField(default=0, help_text="SMS segments / emails billed.")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    ttd_p50_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to deliver, median.")
    ttd_p95_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to deliver, 95th percentile.")
    ttd_histogram = models.JSONField(
        default=dict, blank=True, help_text="Deliveries per time-to-deliver bucket (rollups/contributions.py)."
    )
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


class RollupMark(models.Model):
    """What one notification of an open day is counted as in the rollups. The incremental pass subtracts it and
    adds what the notification counts as now, so a notification folded twice is counted once. A closed day's
    marks are dropped (its rollups change only by a rebuild)."""

    notification = models.OneToOneField(
        "notifications.Notification", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    organisation_id = models.IntegerField(null=True)
    notification_type_id = models.IntegerField()
    channel = models.CharField(max_length=16)
    provider = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    recipient_id = models.IntegerField()
    flags = models.PositiveIntegerField(help_text="Which counts it adds one to (rollups/contributions.py).")
    units = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    ttd_bucket = models.SmallIntegerField(null=True)

    objects = OperatorOnly()

    class Meta:
        indexes = [models.Index(fields=["day"], name="rollup_mark_day_idx")]

    def __str__(self) -> str:
        return f"{self.notification_id} on {self.day}: {self.flags:b}"


class RollupWatermark(models.Model):
    """Where the incremental pass got to: changes after `through` (less an overlap) are folded by the next pass.
    One row; the pass locks it, so two passes never fold at once."""

    through = models.DateTimeField(null=True, blank=True)
    folded = models.PositiveBigIntegerField(default=0, help_text="Notifications folded, all passes.")
    passed_at = models.DateTimeField(null=True, blank=True)

    objects = OperatorOnly()

    def __str__(self) -> str:
        return f"rollups folded through {self.through}"


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
