"""Where a person's push notifications go: browsers (Web Push subscriptions) and app installs (FCM device
tokens). Both belong to the person's organisation; a push service saying one is gone (404/410, UNREGISTERED)
deletes it, so the next message finds only the live ones."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from commhub.tenancy import OrganisationScoped, organisation_field


class PushSubscription(models.Model):
    """One browser's Web Push subscription, as `PushManager.subscribe()` gave it: the push service's endpoint
    and the browser's keys that payloads are encrypted for (RFC 8291)."""

    organisation = organisation_field()
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=1000, help_text="The push service's URL for this browser.")
    p256dh = models.CharField(max_length=100, help_text="The browser's P-256 public key (base64url).")
    auth = models.CharField(max_length=32, help_text="The browser's authentication secret (base64url).")
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True, help_text="The push service last took a message.")

    objects = OrganisationScoped()

    class Meta:
        constraints = [
            # a browser re-subscribing (or a shared device changing hands) moves its one row
            models.UniqueConstraint(fields=["organisation", "endpoint"], name="push_subscription_endpoint"),
        ]
        indexes = [models.Index(fields=["recipient"], name="push_subscription_of")]

    def __str__(self) -> str:
        return self.endpoint[:80]


class DeviceToken(models.Model):
    """One app install's Firebase Cloud Messaging registration token."""

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WEB = "web", "Web"

    organisation = organisation_field()
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=512, help_text="The FCM registration token the app was given.")
    platform = models.CharField(max_length=8, choices=Platform.choices, default=Platform.ANDROID)
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True, help_text="FCM last took a message.")

    objects = OrganisationScoped()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "token"], name="push_device_token")]
        indexes = [models.Index(fields=["recipient"], name="push_device_of")]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} …{self.token[-8:]}"
