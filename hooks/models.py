"""Endpoints commhub POSTs to: a person's systems reached through the webhook channel. Each has its own signing
secret (Standard Webhooks), rotated with an overlap during which both are used."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from commhub.tenancy import OrganisationScoped, organisation_field


class WebhookEndpoint(models.Model):
    organisation = organisation_field()
    recipient = models.ForeignKey(
        "preferences.Recipient",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose endpoint it is: the webhook channel delivers this person's notifications to it.",
    )
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
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient"], name="webhook_endpoint_of")]

    def __str__(self) -> str:
        return self.url[:80]
