"""Writes for templates: drafts, publishing, rollback; and the preview and test send staff use before a publish."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record, fields_of
from commhub import channels
from commhub.errors import Conflict, Forbidden
from commhub.tenancy import acting_as_operator, acting_organisation_id, owner_of_new_shared_or_own
from costs.services import cost_estimate
from preferences.models import actor_name
from preferences.selectors import recipient_by_external_id

from .models import Template, TemplateVersion, VersionStatus
from .rendering import RenderError, build_context, render_version
from .selectors import layout_for
from .variables import sample_recipient, version_problems

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (*channels.TEMPLATE_PARTS, "variables", "use_layout", "layout", "note")


SHARED = (
    "This template is shared by every organisation and only the default organisation's staff change it: create "
    "your organisation's own template for this type, channel and locale (it overrides the shared one)."
)


def template_owner_for_new() -> int | None:
    """Whose a new template is: the operator's (the default organisation, a superuser) make the shared default;
    any other organisation its own override."""
    return owner_of_new_shared_or_own()


def template_writable(template: Template) -> bool:
    """Whether the acting organisation may change the template (its versions, what is live): its own, or a shared
    one for the operator's staff."""
    return template.organisation_id is not None or acting_as_operator()


def template_check_writable(template: Template) -> None:
    """Refuse changing a shared template from an organisation that only uses it."""
    if not template_writable(template):
        raise Forbidden(SHARED, code="shared_template")


def template_create(*, notification_type, channel: str, locale: str = "en") -> Template:
    template = Template(
        organisation_id=template_owner_for_new(),
        notification_type=notification_type,
        channel=channel,
        locale=(locale or "en").strip(),
    )
    template.full_clean()
    with transaction.atomic():
        template.save()
        audit_record(action="template.create", obj=template, after={"channel": channel, "locale": template.locale})
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
    template_check_writable(template)
    with transaction.atomic():
        Template.objects.select_for_update().filter(pk=template.pk).first()  # numbers are handed out in turn
        last = template.versions.aggregate(last=Max("number"))["last"] or 0
        version = TemplateVersion(template=template, number=last + 1, created_by=actor_name(actor)[:150], **fields)
        _validated(version)
        version.save()
        audit_record(action="template.draft", obj=version, actor=actor, after=fields_of(version, sorted(fields)))
    return version


def version_update(*, version: TemplateVersion, actor=None, **fields: Any) -> TemplateVersion:
    """Edit a draft. A published version is frozen: 409."""
    template_check_writable(version.template)
    if version.is_frozen:
        raise Conflict(f"Version {version.number} is published and frozen; create a new version instead.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    before = fields_of(version, sorted(fields))
    for name, value in fields.items():
        setattr(version, name, value)
    _validated(version)
    with transaction.atomic():
        version.save()
        changed = [name for name in sorted(fields) if before[name] != getattr(version, name)]
        if changed:
            audit_record(
                action="template.edit",
                obj=version,
                actor=actor,
                before={n: before[n] for n in changed},
                after=fields_of(version, changed),
            )
    return version


def version_publish(*, version: TemplateVersion, actor=None) -> TemplateVersion:
    """Freeze a draft and make it live. Publishing an already published version makes it live again (that is
    a rollback)."""
    template_check_writable(version.template)
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=version.template_id)
        version = TemplateVersion.objects.select_for_update().get(pk=version.pk)
        live = template.published_version
        live_before = live.number if live is not None else None
        rollback = version.is_frozen
        if not version.is_frozen:
            _validated(version)
            version.status = VersionStatus.PUBLISHED
            version.published_at = timezone.now()
            version.published_by = actor_name(actor)[:150]
            version.save()
        template.published_version = version
        template.save(update_fields=["published_version", "updated_at"])
        audit_record(
            action="template.rollback" if rollback else "template.publish",
            obj=template,
            actor=actor,
            before={"live_version": live_before},
            after={"live_version": version.number, "published_by": version.published_by},
        )
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


RECIPIENT_READ_PERMISSION = "preferences.view_recipient"


def preview_recipient_for(*, user, external_id: str):
    """The real recipient `user` asked to preview with, or None for the sample recipient.

    A preview shows the recipient's address and attributes, so it needs the right to read recipients, and
    it must not tell someone without that right whether an id exists: both get the same refusal."""
    external_id = (external_id or "").strip()
    if not external_id:
        return None
    if not (user.is_superuser or user.has_perm(RECIPIENT_READ_PERMISSION)):
        raise ValidationError(
            {"recipient": [f"Previewing with a real recipient needs the permission {RECIPIENT_READ_PERMISSION}."]}
        )
    recipient = recipient_by_external_id(external_id)
    if recipient is None:
        raise ValidationError({"recipient": [f"Unknown recipient {external_id!r}."]})
    return recipient


def template_preview(*, version: TemplateVersion, data: dict | None = None, recipient=None) -> Preview:
    """Render a version (draft or published) with its sample data, or given data, for a sample or a real
    recipient; with what the channel reports about the text (SMS: encoding and segments), the cost, and
    warnings."""
    channel = version.template.channel
    spec = channels.get(channel)
    ntype = version.template.notification_type
    who = recipient or sample_recipient()
    context = build_context(data={**version.sample_data(), **(data or {})}, recipient=who)
    context.update(spec.extra_context(recipient_id=0, purpose=ntype.purpose, category=ntype.category, preview=True))
    try:
        rendered = render_version(version, context=context, layout=layout_for(version, channel))
    except RenderError as exc:
        raise ValidationError({"data": [str(exc)]}) from exc
    preview = Preview(subject=rendered.subject, text=rendered.body, html=rendered.html)
    preview.sms, preview.warnings = spec.text_report(rendered.body)
    estimate = cost_estimate(
        channel=channel,
        segments=spec.units(rendered.body),
        to=spec.address_for(who),
        organisation_id=acting_organisation_id(),
    )
    if estimate:
        preview.cost = {"amount": str(estimate[0]), "currency": estimate[1]}
    return preview
