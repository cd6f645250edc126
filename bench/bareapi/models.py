"""The baseline the single-send benchmark compares against: what a team writes first."""

from django.db import models


class BareNotification(models.Model):
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE)
    notification_type = models.ForeignKey("notifications.NotificationType", on_delete=models.CASCADE)
    channel = models.CharField(max_length=16)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, default="queued")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"bare #{self.pk}"
