"""Reads for templates: what is live per type x channel x locale, versions by id, layouts and partials.

Submit and send read these for every message, so they come from in-process snapshots (reloaded every
COMMHUB_CATALOGUE_CACHE_SECONDS, and at once on a save in this process). Published versions never change,
so a cached one is never stale; only which version is live can lag by the cache time in another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from commhub.snapshot import Snapshot

from .models import Layout, Partial, Template, TemplateVersion, VersionStatus


@dataclass(frozen=True)
class LiveTemplate:
    template: Template
    version: TemplateVersion


def _load_live() -> dict[tuple[int | None, int, str, str], LiveTemplate]:
    """(organisation id or None for the shared default, type id, channel, lower-case locale) -> its live template."""
    live = {}
    for t in Template.objects.filter(is_active=True, published_version__isnull=False).select_related(
        "published_version"
    ):
        # locales are compared case-insensitively (pt-BR, pt-br)
        version = t.published_version
        if version is not None:  # filtered above; a concurrent unpublish cannot leave it None here
            live[(t.organisation_id, t.notification_type_id, t.channel, t.locale.lower())] = LiveTemplate(t, version)
    return live


live_templates = Snapshot(_load_live)


def _load_published_versions() -> dict[int, TemplateVersion]:
    return {v.pk: v for v in TemplateVersion.objects.filter(status=VersionStatus.PUBLISHED).select_related("template")}


published_versions = Snapshot(_load_published_versions)


def _load_partials() -> dict[str, str]:
    return dict(Partial.objects.values_list("name", "source"))


partials = Snapshot(_load_partials)


def _load_layouts() -> dict:
    layouts = list(Layout.objects.all())
    return {
        **{("id", layout.pk): layout for layout in layouts},
        **{("default", layout.channel): layout for layout in layouts if layout.is_default},
    }


layouts = Snapshot(_load_layouts)


def locale_chain(locale: str, type_default: str = "en") -> list[str]:
    """pt-BR -> [pt-BR, pt, <the type's default>, en], without repeats."""
    chain: list[str] = []
    if locale:
        parts = locale.replace("_", "-").split("-")
        chain += ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    chain += [type_default or "en", "en"]
    seen: set[str] = set()
    unique = []
    for candidate in chain:
        if candidate and candidate.lower() not in seen:
            seen.add(candidate.lower())
            unique.append(candidate)
    return unique


def template_for(
    *,
    notification_type_id: int,
    channel: str,
    locale: str = "en",
    default_locale: str = "en",
    organisation_id: int | None = None,
) -> LiveTemplate | None:
    """The live template for a type on a channel, in the first locale of the fallback chain that has one: the
    organisation's own for that locale if it has one, else the shared default."""
    live = live_templates.get()
    for candidate in locale_chain(locale, default_locale):
        wanted = candidate.lower()
        if organisation_id is not None:
            found = live.get((organisation_id, notification_type_id, channel, wanted))
            if found is not None:
                return found
        found = live.get((None, notification_type_id, channel, wanted))
        if found is not None:
            return found
    return None


def version_by_id(version_id: int) -> TemplateVersion | None:
    """A published version (they never change); a draft is read from the database."""
    version = published_versions.get().get(version_id)
    if version is None:
        version = TemplateVersion.objects.select_related("template").filter(pk=version_id).first()
    return version


def layout_for(version: TemplateVersion, channel: str) -> Layout | None:
    if not version.use_layout:
        return None
    snapshot = layouts.get()
    if version.layout_id:
        return snapshot.get(("id", version.layout_id)) or Layout.objects.filter(pk=version.layout_id).first()
    return snapshot.get(("default", channel))


def partial_sources() -> dict[str, str]:
    return partials.get()


def notification_type_for_templates(key: str) -> Any:
    """The notification type a template belongs to, by key: read through the model Template's own foreign key
    points at (templates_app sits below notifications and does not import it)."""
    model = Template._meta.get_field("notification_type").related_model
    assert isinstance(model, type)
    return model._default_manager.filter(key=key).first()


def templates_all() -> QuerySet[Template]:
    return Template.objects.select_related("notification_type", "published_version")
