"""Writes for templates: drafts, publishing, rollback; and the preview and test send staff use before a publish."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from commhub.errors import Conflict
from preferences.models import actor_name

from .models import Template, TemplateVersion, VersionStatus
from .rendering import RenderError, build_context, render_version
from .segments import GSM7_BASIC, GSM7_EXTENSION, sms_shape
from .selectors import layout_for
from .variables import sample_recipient, version_problems

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("subject", "text", "html", "title", "action_url", "variables", "use_layout", "layout", "note")


def template_create(*, notification_type, channel: str, locale: str = "en") -> Template:
    template = Template(notification_type=notification_type, channel=channel, locale=(locale or "en").strip())
    template.full_clean()
    template.save()
    return template


def _validated(version: TemplateVersion) -> None:
    problems = version_problems(version, channel=version.template.channel)
    if problems:
        raise ValidationError(problems)


def version_create(*, template: Template, actor=None, **fields: Any) -> TemplateVersion:
    """A new draft (its number follows the template's last). Refused, naming the problem, when it does not
    compile, uses an undeclared variable, or does not render with its sample data."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    with transaction.atomic():
        Template.objects.select_for_update().filter(pk=template.pk).first()  # numbers are handed out in turn
        last = template.versions.aggregate(last=Max("number"))["last"] or 0
        version = TemplateVersion(template=template, number=last + 1, created_by=actor_name(actor)[:150], **fields)
        _validated(version)
        version.save()
    return version


def version_update(*, version: TemplateVersion, actor=None, **fields: Any) -> TemplateVersion:
    """Edit a draft. A published version is frozen: 409."""
    if version.is_frozen:
        raise Conflict(f"Version {version.number} is published and frozen; create a new version instead.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(version, name, value)
    _validated(version)
    version.save()
    return version


def version_publish(*, version: TemplateVersion, actor=None) -> TemplateVersion:
    """Freeze a draft and make it live. Publishing an already published version makes it live again (that is
    a rollback)."""
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=version.template_id)
        version = TemplateVersion.objects.select_for_update().get(pk=version.pk)
        if not version.is_frozen:
            _validated(version)
            version.status = VersionStatus.PUBLISHED
            version.published_at = timezone.now()
            version.published_by = actor_name(actor)[:150]
            version.save()
        template.published_version = version
        template.save(update_fields=["published_version", "updated_at"])
    logger.info("template %s: version %s is live (by %s)", template, version.number, actor_name(actor))
    return version


def template_rollback(*, template: Template, number: int, actor=None) -> TemplateVersion:
    """Make an earlier published version live again."""
    version = template.versions.filter(number=number).first()
    if version is None:
        raise ValidationError({"version": [f"Template {template.pk} has no version {number}."]})
    if not version.is_frozen:
        raise Conflict(f"Version {number} is a draft; publish it instead of rolling back to it.")
    return version_publish(version=version, actor=actor)


# --- preview --------------------------------------------------------------------------------------------


@dataclass
class Preview:
    subject: str
    text: str
    html: str
    sms: dict | None = None
    cost: dict | None = None
    warnings: list[str] = field(default_factory=list)


def _sms_report(text: str) -> tuple[dict, list[str]]:
    shape = sms_shape(text)
    report = {"encoding": shape.encoding, "length": shape.units, "segments": max(1, shape.segments)}
    warnings = []
    if shape.encoding == "UCS-2":
        culprits = sorted({ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION})
        as_gsm = sms_shape("".join(ch for ch in text if ch in GSM7_BASIC or ch in GSM7_EXTENSION))
        if max(1, as_gsm.segments) < report["segments"]:
            warnings.append(
                f"{' '.join(culprits[:5])} switch this SMS to UCS-2: {report['segments']} segments instead of "
                f"{max(1, as_gsm.segments)}, so it costs {report['segments'] / max(1, as_gsm.segments):g}x as much."
            )
        else:
            warnings.append(f"{' '.join(culprits[:5])} switch this SMS to UCS-2 (70 characters per segment).")
    return report, warnings


def template_preview(*, version: TemplateVersion, data: dict | None = None, recipient=None) -> Preview:
    """Render a version (draft or published) with its sample data, or given data, for a sample or a real
    recipient; with the SMS encoding, segments and cost, and warnings."""
    from analytics.services import cost_estimate

    channel = version.template.channel
    who = recipient or sample_recipient()
    context = build_context(data={**version.sample_data(), **(data or {})}, recipient=who)
    if channel == "email" and version.template.notification_type.purpose == "marketing":
        context["unsubscribe_url"] = "https://example.com/unsubscribe/preview/"
    try:
        rendered = render_version(version, context=context, layout=layout_for(version, channel))
    except RenderError as exc:
        raise ValidationError({"data": [str(exc)]}) from exc
    preview = Preview(subject=rendered.subject, text=rendered.body, html=rendered.html)
    segments = None
    if channel == "sms":
        preview.sms, preview.warnings = _sms_report(rendered.body)
        segments = preview.sms["segments"]
    estimate = cost_estimate(
        channel=channel, segments=segments, to=(who.phone if channel == "sms" else who.email) or ""
    )
    if estimate:
        preview.cost = {"amount": str(estimate[0]), "currency": estimate[1]}
    return preview


def staff_test_recipient(user):
    """Staff test sends go to the staff member's own contact points: their user's email, and the phone of the
    recipient `staff:<username>` (created on first use; staff set its phone in the admin)."""
    from preferences.services import recipient_upsert

    recipient, _ = recipient_upsert(external_id=f"staff:{user.get_username()}")
    if user.email and recipient.email != user.email:
        recipient, _ = recipient_upsert(external_id=recipient.external_id, email=user.email)
    return recipient


def template_test_send(*, version: TemplateVersion, user, data: dict | None = None) -> str:
    """Send the rendered version to the staff member themself, through the configured provider. Returns the
    provider's message id. Nothing else is sent and no notification is created."""
    from notifications.channels.base import DeliveryError, OutboundMessage
    from notifications.channels.registry import provider_for

    channel = version.template.channel
    recipient = staff_test_recipient(user)
    to = recipient.address_for(channel)
    if not to:
        what = "an email address on your user" if channel == "email" else f"a phone on recipient {recipient}"
        raise ValidationError({"channel": [f"Set {what} to receive test sends."]})
    preview = template_preview(version=version, data=data, recipient=recipient)
    provider = provider_for(channel)
    try:
        result = provider.send(
            OutboundMessage(
                notification_id="",  # a test send belongs to no notification
                channel=channel,
                to=to,
                subject=f"[TEST] {preview.subject}" if preview.subject else "",
                body=preview.text,
                html=preview.html,
                headers={"X-Commhub-Test": "1"},
            )
        )
    except DeliveryError as exc:
        raise ValidationError({"channel": [f"The provider refused the test send: {exc.message}"]}) from exc
    logger.info("test send of %s to %s by %s: %s", version, to, user, result.provider_message_id)
    return result.provider_message_id
