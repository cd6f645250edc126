"""Money: the prices messages are charged at, the ledger of what each sent message cost, and budgets.

Below notifications: the submit path reserves budget and the send path writes the ledger through this app's
services; nothing here imports notifications (rows are passed in; foreign keys name models by string).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from commhub import channels
from commhub.channels import COST_UNITS, MESSAGE, SEGMENT
from commhub.currencies import currency_choices
from commhub.tenancy import (
    OrganisationScoped,
    SharedOrOwn,
    ThroughBudget,
    ThroughNotification,
    organisation_field,
    shared_or_own_field,
)


class PricingRule(models.Model):
    """The price of one unit (an SMS segment, an email message) on a channel, for a while.

    The rule that prices a message is the most specific one in force when it is sent: the longest matching
    destination prefix (+44 beats any destination), then a rule naming the provider over a channel-wide one,
    then the latest `effective_from`. A price change is a new rule from a date, so history keeps its prices.
    A rule without an organisation is the shared price list; an organisation's own rules (its negotiated rates)
    price its messages first, and the shared list prices whatever they do not cover.
    """

    class Unit(models.TextChoices):
        """What one price counts (a channel's spec names its unit: commhub.channels.MESSAGE or SEGMENT)."""

        SEGMENT = SEGMENT, COST_UNITS[SEGMENT]
        MESSAGE = MESSAGE, COST_UNITS[MESSAGE]

    organisation = shared_or_own_field(
        "Blank: the shared price list every organisation uses where it has no price of its own."
    )
    channel = models.CharField(max_length=16, choices=channels.choices)
    provider = models.CharField(max_length=64, blank=True, help_text="Blank: any provider on this channel.")
    country_prefix = models.CharField(
        max_length=8,
        blank=True,
        validators=[RegexValidator(r"^\+[1-9][0-9]{0,6}$", "An E.164 prefix: + and up to 7 digits, e.g. +44.")],
        help_text="Destination phone prefix, e.g. +44 or +1242. Blank: any destination.",
    )
    unit = models.CharField(max_length=16, choices=Unit.choices)
    price = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD", choices=currency_choices)
    effective_from = models.DateTimeField(null=True, blank=True, help_text="Blank: since always.")
    effective_to = models.DateTimeField(null=True, blank=True, help_text="Blank: until further notice (exclusive).")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SharedOrOwn()

    class Meta:
        ordering = ["channel", "country_prefix", "provider", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider", "country_prefix", "effective_from"],
                condition=Q(organisation__isnull=True),
                name="pricing_one_shared_rule_per_start",
            ),
            models.UniqueConstraint(
                fields=["organisation", "channel", "provider", "country_prefix", "effective_from"],
                condition=Q(organisation__isnull=False),
                name="pricing_one_own_rule_per_start",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_from__isnull=True)
                | Q(effective_to__gt=F("effective_from")),
                name="pricing_window_not_empty",
            ),
        ]

    def __str__(self) -> str:
        where = f" to {self.country_prefix}" if self.country_prefix else ""
        return f"{self.channel}/{self.provider or '*'}{where}: {self.price} {self.currency} per {self.unit}"

    def in_force(self, at: datetime) -> bool:
        return (self.effective_from is None or self.effective_from <= at) and (
            self.effective_to is None or at < self.effective_to
        )

    def clean(self) -> None:
        spec = channels.get(self.channel) if channels.exists(self.channel) else None
        if spec is not None and self.unit and self.unit != spec.cost_unit:
            raise ValidationError({"unit": f"{spec.label} is priced per {COST_UNITS[spec.cost_unit].lower()}."})
        if self.country_prefix and spec is not None and not spec.destination_prices:
            raise ValidationError({"country_prefix": f"{spec.label} prices do not depend on the destination."})
        if self.effective_from and self.effective_to and self.effective_to <= self.effective_from:
            raise ValidationError({"effective_to": "Must be after the start."})
        owner = Q(organisation_id=self.organisation_id) if self.organisation_id else Q(organisation__isnull=True)
        overlapping = PricingRule._base_manager.filter(
            owner,
            channel=self.channel,
            provider=self.provider,
            country_prefix=self.country_prefix,
            is_active=True,
        ).exclude(pk=self.pk)
        if self.effective_to is not None:
            overlapping = overlapping.filter(Q(effective_from__isnull=True) | Q(effective_from__lt=self.effective_to))
        if self.effective_from is not None:
            overlapping = overlapping.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=self.effective_from))
        if self.is_active and overlapping.exists():
            raise ValidationError(
                f"Another active rule prices {self.channel}/{self.provider or 'any provider'}"
                f"{' to ' + self.country_prefix if self.country_prefix else ''} in the same period: "
                "end it (effective to) before this one starts."
            )


class CostEntry(models.Model):
    """What one sent notification cost. One row per notification, written when the provider accepts it; the
    provider's own bill (a Twilio price callback) replaces the amount once, keeping our estimate beside it."""

    notification = models.OneToOneField(
        "notifications.Notification", on_delete=models.PROTECT, related_name="cost_entry"
    )
    channel = models.CharField(max_length=16, choices=channels.choices)
    provider = models.CharField(max_length=64)
    units = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=6)
    amount = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    is_estimate = models.BooleanField(default=True, help_text="Our price table, not yet the provider's bill.")
    estimated_amount = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="What our price table said."
    )
    pricing_rule = models.ForeignKey(
        PricingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True, help_text="When the provider's bill replaced it.")

    objects = ThroughNotification()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "cost entries"
        # The incremental rollup pass: bills that replaced an estimate since its watermark.
        indexes = [
            models.Index(fields=["updated_at"], name="cost_entry_billed_idx", condition=Q(updated_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.channel})"


class Budget(models.Model):
    """A spending limit. A blocking budget makes the decision engine refuse the notification that would take
    the period's spend past the limit; an alert budget lets it through and tells staff once per period."""

    class Scope(models.TextChoices):
        GLOBAL = "global", "Everything"
        TYPE = "type", "One notification type"
        RECIPIENT = "recipient", "One recipient"
        EACH_RECIPIENT = "each_recipient", "Each recipient separately"

    class Period(models.TextChoices):
        DAILY = "daily", "Daily (UTC)"
        MONTHLY = "monthly", "Monthly (UTC)"

    class Action(models.TextChoices):
        BLOCK = "block", "Refuse sends over the limit"
        ALERT = "alert", "Tell staff when crossed"

    organisation = organisation_field()
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.GLOBAL)
    notification_type = models.ForeignKey(
        "notifications.NotificationType", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    recipient = models.ForeignKey(
        "preferences.Recipient", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    channel = models.CharField(max_length=16, choices=channels.choices, blank=True, help_text="Blank: every channel.")
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.DAILY)
    limit = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    currency = models.CharField(
        max_length=3, default="USD", choices=currency_choices, help_text="It counts messages priced in it."
    )
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.BLOCK)
    include_critical = models.BooleanField(
        default=False,
        help_text="Refuse critical alerts (priority 1) over the limit too. Off: they are sent and counted, so a "
        "budget never stops a fraud or security alert.",
    )
    notify = models.CharField(
        max_length=500,
        blank=True,
        help_text="Recipient external ids to alert, comma-separated. Blank: COMMHUB_BUDGET_ALERT_RECIPIENTS.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="budget_name_per_organisation")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.scope == self.Scope.TYPE and self.notification_type_id is None:
            raise ValidationError({"notification_type": "A per-type budget names its type."})
        if self.scope == self.Scope.RECIPIENT and self.recipient_id is None:
            raise ValidationError({"recipient": "A per-recipient budget names its recipient."})

    @property
    def label(self) -> str:
        return f"{self.period} budget '{self.name}' ({self.limit.normalize():f} {self.currency})"


class BudgetSpend(models.Model):
    """What a budget has committed in one period (for one recipient, for per-recipient budgets): the estimated
    cost of every notification it let through, corrected to the ledger by `budgets_reconcile`."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="spends")
    period_start = models.DateField()
    subject = models.CharField(max_length=64, blank=True, help_text="The recipient id for per-recipient budgets.")
    spent = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    refused = models.PositiveIntegerField(default=0)
    alerted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ThroughBudget()

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "period_start", "subject"], name="budget_spend_one_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} {self.period_start} {self.subject or '*'}: {self.spent}"
