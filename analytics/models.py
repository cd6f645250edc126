"""The cost ledger and the prices it is computed from."""

from __future__ import annotations

from django.db import models

from notifications.constants import Channel


class PricingRule(models.Model):
    """The price of one unit (an SMS segment, an email message) on a channel.

    A rule naming a provider wins over the channel-wide rule (blank provider).
    """

    class Unit(models.TextChoices):
        SEGMENT = "segment", "SMS segment"
        MESSAGE = "message", "Message"

    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider = models.CharField(max_length=64, blank=True, help_text="Blank: any provider on this channel.")
    unit = models.CharField(max_length=16, choices=Unit.choices)
    price = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider"], name="pricing_one_rule_per_channel_provider")
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.provider or '*'}: {self.price} {self.currency} per {self.unit}"


class CostEntry(models.Model):
    """What one sent notification cost. One row per notification, written when the provider accepts it."""

    notification = models.OneToOneField(
        "notifications.Notification", on_delete=models.PROTECT, related_name="cost_entry"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider = models.CharField(max_length=64)
    units = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=6)
    amount = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    is_estimate = models.BooleanField(default=True, help_text="Our price table, not yet the provider's bill.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "cost entries"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.channel})"
