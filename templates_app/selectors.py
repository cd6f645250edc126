"""Reads for templates."""

from __future__ import annotations

from commhub.snapshot import Snapshot

from .models import Template


def _load_active_templates() -> dict[tuple[int, str], Template]:
    return {(t.notification_type_id, t.channel): t for t in Template.objects.filter(is_active=True)}


active_templates = Snapshot(_load_active_templates)


def _load_templates_by_id() -> dict[int, Template]:
    return {t.pk: t for t in Template.objects.all()}


templates_by_id = Snapshot(_load_templates_by_id)


def template_by_id(template_id: int) -> Template | None:
    """Any template, active or not (a queued notification keeps the one it was submitted with)."""
    return templates_by_id.get().get(template_id)


def template_for(*, notification_type_id: int, channel: str) -> Template | None:
    """The active template for a type on a channel (from the in-process snapshot)."""
    return active_templates.get().get((notification_type_id, channel))
