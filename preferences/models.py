"""Recipients: who commhub may contact, and how."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

E164 = RegexValidator(r"^\+[1-9]\d{6,14}$", "Enter a phone number in E.164 form, e.g. +14155550123.")


class Recipient(models.Model):
    """One person in the product, keyed by the product's own user id (`external_id`)."""

    external_id = models.CharField(max_length=128, unique=True, help_text="The product's user id.")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=16, blank=True, validators=[E164], help_text="E.164, e.g. +14155550123")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. America/New_York")
    locale = models.CharField(max_length=16, default="en", help_text="BCP 47, e.g. en, pt-BR")
    attributes = models.JSONField(default=dict, blank=True, help_text="Free attributes for personalisation.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return self.external_id

    def address_for(self, channel: str) -> str:
        """The contact point for `channel`, or "" when the recipient has none."""
        return {"email": self.email, "sms": self.phone}.get(channel, "")
