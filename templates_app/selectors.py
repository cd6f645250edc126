"""Reads for templates."""

from __future__ import annotations

from commhub.snapshot import Snapshot

from .models import Template


def _load_active_templates() -> dict[tuple[int, str], Template]:
    return {(t.notification_type_id, t.channel): t for t in Template.objects.filter(is_active=True)}


active_templates = Snapshot(_load_active_templates)


def template_for(*, notification_type_id: int, channel: str) -> Template | None:
    """The active template for a type on a channel (from the in-process snapshot)."""
    return active_templates.get().get((notification_type_id, channel))
