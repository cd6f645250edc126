"""Message templates: the words staff write, per notification type x channel."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from notifications.constants import Channel


class Template(models.Model):
    """Jinja2 (sandboxed) source for one type on one channel.

    Email uses subject, body (plain text) and html; SMS uses body only. Data variables are top-level
    names (`{{ amount }}`); the recipient is available as `{{ recipient.external_id }}`,
    `{{ recipient.attributes.first_name }}` and so on.
    """

    notification_type = models.ForeignKey(
        "notifications.NotificationType", on_delete=models.CASCADE, related_name="templates"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(help_text="Plain text (email) or the SMS text.")
    html = models.TextField(blank=True, help_text="HTML part for email; autoescaped.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["notification_type__key", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["notification_type", "channel"], name="template_one_per_type_channel")
        ]

    def __str__(self) -> str:
        return f"{self.notification_type_id and self.notification_type.key} / {self.channel}"

    def clean(self) -> None:
        from .rendering import TemplateSyntaxProblem, check_syntax

        if self.channel == Channel.EMAIL and not self.subject:
            raise ValidationError({"subject": "An email template needs a subject."})
        errors = {}
        for field in ("subject", "body", "html"):
            try:
                check_syntax(getattr(self, field))
            except TemplateSyntaxProblem as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)
