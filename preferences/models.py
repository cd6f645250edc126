"""Recipients, their preferences, the consent ledger and the suppression list.

Everything commhub needs to answer "may we contact this person, on this channel, about this, now?"
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from commhub import channels
from commhub.append_only import AppendOnlyModel, ConsentLedgerManager
from commhub.tenancy import OrganisationScoped, ThroughRecipient, organisation_field

E164 = RegexValidator(r"^\+[1-9]\d{6,14}$", "Enter a phone number in E.164 form, e.g. +14155550123.")

PURPOSE_CHOICES = [("transactional", "Transactional"), ("marketing", "Marketing")]


class Recipient(models.Model):
    """One person in the product, keyed by the product's own user id (`external_id`)."""

    organisation = organisation_field()
    external_id = models.CharField(max_length=128, help_text="The product's user id (unique in its organisation).")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=16, blank=True, validators=[E164], help_text="E.164, e.g. +14155550123")
    timezone = models.CharField(
        max_length=64, blank=True, default="", help_text="IANA name, e.g. America/New_York. Blank: unknown."
    )
    locale = models.CharField(max_length=16, default="en", help_text="BCP 47, e.g. en, pt-BR")
    attributes = models.JSONField(default=dict, blank=True, help_text="Free attributes for personalisation.")
    send_window_start = models.TimeField(
        null=True, blank=True, help_text="Local time marketing messages may start (blank: the default, 08:00)."
    )
    send_window_end = models.TimeField(
        null=True, blank=True, help_text="Local time marketing messages must stop (blank: the default, 21:00)."
    )
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="Personal data erased on request; the ledger is kept under this pseudonym."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"], name="recipient_external_id_per_organisation"
            )
        ]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["phone"])]
        permissions = [
            ("export_recipient", "Can export everything held about a recipient"),
            ("erase_recipient", "Can erase a recipient's personal data"),
        ]

    def __str__(self) -> str:
        return self.external_id

    def address_for(self, channel: str) -> str:
        """The contact point for `channel` (its spec says where it is), or "" when the recipient has none (or the
        channel is no longer configured)."""
        return channels.get(channel).address_for(self) if channels.exists(channel) else ""

    def clean(self) -> None:
        if (self.send_window_start is None) != (self.send_window_end is None):
            raise ValidationError({"send_window_end": "Give both ends of the send window, or neither."})
        if self.send_window_start is not None and self.send_window_start == self.send_window_end:
            raise ValidationError({"send_window_end": "The window must not be empty."})


class Preference(models.Model):
    """One on/off choice of a recipient.

    Scope, from narrow to broad: a notification type, or a category of types, or (neither) everything;
    on one channel, or (blank channel) on every channel. "No SMS at all" is type=None, category="",
    channel="sms", enabled=False. Every matching choice must allow a message (an "off" anywhere wins).
    """

    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="preferences")
    notification_type = models.ForeignKey(
        "notifications.NotificationType", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    category = models.SlugField(max_length=64, blank=True, help_text="A category of types, e.g. education.")
    channel = models.CharField(max_length=16, choices=channels.choices, blank=True, help_text="Blank: every channel.")
    enabled = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = ThroughRecipient()

    class Meta:
        ordering = ["recipient", "notification_type", "category", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "notification_type", "channel"],
                condition=Q(notification_type__isnull=False),
                name="preference_one_per_type_channel",
            ),
            models.UniqueConstraint(
                fields=["recipient", "category", "channel"],
                condition=Q(notification_type__isnull=True),
                name="preference_one_per_category_channel",
            ),
            models.CheckConstraint(
                condition=Q(notification_type__isnull=True) | Q(category=""),
                name="preference_type_or_category",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.scope} -> {'on' if self.enabled else 'off'}"

    @property
    def scope(self) -> str:
        what = (
            f"type {self.notification_type.key}"
            if self.notification_type is not None
            else f"category {self.category}"
            if self.category
            else "all notifications"
        )
        return f"{what} by {self.channel or 'any channel'}"

    def clean(self) -> None:
        if self.notification_type_id and self.category:
            raise ValidationError({"category": "A preference targets a type or a category, not both."})


class ConsentAction(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentSource(models.TextChoices):
    API = "api", "API (product backend)"
    USER = "user", "The person, through the end-user API"
    ADMIN = "admin", "Staff, in the admin"
    SMS_KEYWORD = "sms_keyword", "SMS keyword (STOP/START)"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
    PROVIDER_EVENT = "provider_event", "Provider event"
    IMPORT = "import", "Import"


class ConsentRecord(AppendOnlyModel):
    """One entry of the append-only consent ledger: who agreed to (or withdrew from) what, when, how, having
    been told what. Current consent is the latest entry that applies; corrections are new entries.

    PostgreSQL also refuses UPDATE and DELETE on this table with a trigger (migration 0003), so not even raw
    SQL or a superuser in the admin can rewrite history.
    """

    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="consent_records")
    channel = models.CharField(max_length=16, choices=channels.choices)
    purpose = models.CharField(max_length=16, choices=PURPOSE_CHOICES)
    category = models.SlugField(
        max_length=64, blank=True, help_text="Blank: every category of this purpose (e.g. all marketing email)."
    )
    action = models.CharField(max_length=16, choices=ConsentAction.choices)
    source = models.CharField(max_length=32, choices=ConsentSource.choices)
    # evidence
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    consent_text = models.TextField(blank=True, help_text="What the person was shown or sent.")
    text_version = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the consent text (first 16).")
    actor = models.CharField(max_length=255, blank=True, help_text="Who recorded it: staff user, API client, ...")
    reference = models.CharField(max_length=255, blank=True, help_text="Provider event or message id, if any.")
    created_at = models.DateTimeField(db_index=True)

    append_only_message = "The consent ledger is append-only: record a new entry instead."
    objects = ConsentLedgerManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "channel", "purpose", "created_at"], name="consent_current_idx")]

    def __str__(self) -> str:
        scope = f"{self.purpose}/{self.category}" if self.category else self.purpose
        return f"{self.recipient_id} {self.action} {self.channel} {scope} ({self.source}, {self.created_at:%Y-%m-%d})"

    @staticmethod
    def version_of(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


class SuppressionReason(models.TextChoices):
    BOUNCE = "bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    STOP = "stop", "Replied STOP"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed at the provider"
    INVALID = "invalid", "Invalid address (provider refused it)"
    MANUAL = "manual", "Added by staff"


class Suppression(models.Model):
    """An address nothing may be sent to, on any type, transactional included, until staff lift it.

    Rows are history: lifting stamps who and why, and a later block is a new row.
    """

    organisation = organisation_field()
    channel = models.CharField(max_length=16, choices=channels.choices)
    address = models.CharField(max_length=254, help_text="Lower-case email or E.164 phone number.")
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    detail = models.TextField(blank=True, help_text="What happened, in words.")
    source_event = models.JSONField(default=dict, blank=True, help_text="The event that caused it (ids, payload).")
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=255, blank=True)
    lift_reason = models.TextField(blank=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "channel", "address"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_one_active_per_organisation",
            )
        ]
        indexes = [models.Index(fields=["address", "channel"], name="suppression_address_idx")]

    def __str__(self) -> str:
        return f"{self.channel} {self.address}: {self.reason}{' (lifted)' if self.lifted_at else ''}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


def actor_name(actor) -> str:
    """A readable name for whoever did something: a user, an end user, a string, or the system."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    name = getattr(actor, "get_username", None)
    return name() if callable(name) else str(actor)
