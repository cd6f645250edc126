"""Message templates: the words staff write, per notification type x channel x locale, in versions.

A `Template` is the slot (type, channel, locale); its content lives in `TemplateVersion`s. A version is a
draft while staff edit it; publishing freezes it for good and makes it the slot's live version. Rolling back
makes an earlier (frozen) version live again. Every notification records the exact version it was
rendered from, so a publish never changes what an already accepted message says.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from commhub import channels
from commhub.tenancy import SharedOrOwn, ThroughTemplate, shared_or_own_field

from .syntax import TemplateSyntaxProblem, check_syntax

LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
VARIABLE_TYPES = ("string", "number", "boolean", "date", "object", "list")


class Layout(models.Model):
    """A channel's frame around every message: header, footer, the unsubscribe block. `{{ content }}` marks
    where the message goes; `{{ unsubscribe_url }}` is defined for marketing email."""

    name = models.SlugField(max_length=64, unique=True)
    channel = models.CharField(max_length=16, choices=channels.choices, default="email")
    html = models.TextField(blank=True, help_text="Must contain {{ content }}.")
    text = models.TextField(blank=True, help_text="Must contain {{ content }}.")
    is_default = models.BooleanField(default=False, help_text="Used by versions that name no layout.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "name"]
        constraints = [
            models.UniqueConstraint(fields=["channel"], condition=Q(is_default=True), name="layout_one_default")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel})"

    def clean(self) -> None:
        errors = {}
        for field in ("html", "text"):
            source = getattr(self, field)
            if source and "content" not in source:
                errors[field] = "A layout must place the message with {{ content }}."
            try:
                check_syntax(source)
            except TemplateSyntaxProblem as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)


class Partial(models.Model):
    """A reusable snippet: `{% include "signature" %}` in any template or layout."""

    name = models.SlugField(max_length=64, unique=True)
    source = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            check_syntax(self.source)
        except TemplateSyntaxProblem as exc:
            raise ValidationError({"source": str(exc)}) from exc


SLOT_TAKEN = "A template for this type, channel and locale exists already."


class Template(models.Model):
    """The slot for one type on one channel in one locale; what is sent is its `published_version`. A template
    without an organisation is the shared default; an organisation's own template for the same slot overrides it
    for that organisation's messages."""

    organisation = shared_or_own_field("Blank: the shared default every organisation uses unless it has its own.")
    notification_type = models.ForeignKey(
        "notifications.NotificationType", on_delete=models.CASCADE, related_name="templates"
    )
    channel = models.CharField(max_length=16, choices=channels.choices)
    locale = models.CharField(max_length=16, default="en", help_text="BCP 47: en, pt, pt-BR, ...")
    is_active = models.BooleanField(default=True)
    published_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SharedOrOwn()

    class Meta:
        ordering = ["notification_type__key", "channel", "locale"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification_type", "channel", "locale"],
                condition=Q(organisation__isnull=True),
                name="template_one_shared_per_type_channel_locale",
                violation_error_message=SLOT_TAKEN,
            ),
            models.UniqueConstraint(
                fields=["organisation", "notification_type", "channel", "locale"],
                condition=Q(organisation__isnull=False),
                name="template_one_own_per_type_channel_locale",
                violation_error_message=SLOT_TAKEN,
            ),
        ]
        permissions = [("publish_template", "Can publish and roll back template versions")]

    def __str__(self) -> str:
        return f"{self.notification_type_id and self.notification_type.key} / {self.channel} / {self.locale}"

    def clean(self) -> None:
        if not LOCALE_RE.match(self.locale or ""):
            raise ValidationError({"locale": f"{self.locale!r} is not a locale such as en, pt or pt-BR."})


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft (editable)"
    PUBLISHED = "published", "Published (frozen)"


class TemplateVersion(models.Model):
    """One version of a template's words. Frozen once published: the model refuses to save it again (and on
    PostgreSQL a trigger refuses UPDATE), so what a notification was rendered from never changes."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    subject = models.CharField(max_length=255, blank=True, help_text="Email subject (plain text).")
    text = models.TextField(
        blank=True, help_text="SMS text, or the email's plain-text part (derived from the HTML when blank)."
    )
    html = models.TextField(blank=True, help_text="Email HTML part; autoescaped.")
    title = models.CharField(max_length=255, blank=True, help_text="Push / in-app title.")
    action_url = models.CharField(max_length=1000, blank=True, help_text="In-app action link.")
    action_label = models.CharField(max_length=64, blank=True, help_text="In-app: the action link's words.")
    variables = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"name": "amount", "type": "string", "required": true, "sample": "$120.00"}, ...]',
    )
    use_layout = models.BooleanField(default=True, help_text="Wrap in a layout (email).")
    layout = models.ForeignKey(
        Layout, null=True, blank=True, on_delete=models.PROTECT, help_text="Blank: the channel's default layout."
    )
    note = models.CharField(max_length=255, blank=True, help_text="What changed.")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.CharField(max_length=150, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = ThroughTemplate()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_number")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number} ({self.status})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            stored = TemplateVersion.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored == VersionStatus.PUBLISHED:
                raise PermissionError(f"{self} is published and frozen: create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_frozen:
            raise PermissionError(f"{self} is published and frozen: it cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_frozen(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    def declared(self) -> dict[str, dict]:
        return {v["name"]: v for v in self.variables or [] if isinstance(v, dict) and "name" in v}

    def sample_data(self) -> dict:
        return {name: spec.get("sample") for name, spec in self.declared().items() if "sample" in spec}
