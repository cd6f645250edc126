"""Writing the audit trail. Call audit_record inside the service's own transaction: the entry and the change
commit together or not at all."""

from __future__ import annotations

from typing import Any

from commhub.net import client_address
from commhub.tenancy import DEFAULT_ORGANISATION_ID, acting_organisation_id

from . import context
from .models import ActorKind, AuditEntry, Source


def _source_of(path: str) -> str:
    if path.startswith("/admin/"):
        return Source.ADMIN
    if path.startswith(("/webhooks/", "/unsubscribe/")):
        return Source.WEBHOOK
    return Source.API


def _who(user: Any) -> tuple[str, str, int | None]:
    """(kind, name, user id) of an authenticated user object: staff, a service client, or an end user."""
    external_id = getattr(user, "external_id", None)
    if external_id is not None:  # commhub.enduser.EndUser: a person of the product, with their own token
        return ActorKind.END_USER, f"end user {external_id}"[:255], None
    name = user.get_username() if hasattr(user, "get_username") else str(user)
    kind = (
        ActorKind.USER if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False) else ActorKind.CLIENT
    )
    return kind, name[:255], getattr(user, "pk", None)


def actor_details(actor: Any = None) -> dict[str, Any]:
    """Who and from where, from `actor` when a service was given one, else from the request or command being
    served, else the system (a worker, beat)."""
    found = context.current()
    details: dict[str, Any] = {"actor_kind": ActorKind.SYSTEM, "actor": "system", "source": Source.WORKER}
    if found is not None and found[0] == "request":
        request = found[1]
        details["source"] = _source_of(request.path)
        details["address"] = client_address(request) or None
        user = getattr(request, "user", None)
        if actor is None and user is not None and getattr(user, "is_authenticated", False):
            actor = user
        if actor is None:
            details["actor_kind"], details["actor"] = ActorKind.SYSTEM, "anonymous"
    elif found is not None and found[0] == "command":
        details["source"], details["actor"] = Source.COMMAND, f"manage.py {found[1]}"
    if actor is not None and not isinstance(actor, str):
        details["actor_kind"], details["actor"], details["actor_user_id"] = _who(actor)
    elif isinstance(actor, str) and actor:
        details["actor"] = actor[:255]
    return details


def audit_record(
    *,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    before: dict | None = None,
    after: dict | None = None,
    actor: Any = None,
    detail: str = "",
) -> AuditEntry:
    """Append one entry: `action` on `obj` (or on object_type/object_id), with the fields that matter before and
    after, by `actor` (default: whoever the current request or command is)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        organisation_id=organisation_of(obj),
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        object_repr=str(obj)[:255] if obj is not None else "",
        before=before or {},
        after=after or {},
        detail=detail[:500],
        **actor_details(actor),
    )


_OWNERS = ("recipient", "notification", "template", "budget", "recurring")


def organisation_of(obj: Any) -> int:
    """Whose object it is: its own organisation, or its owner's (a preference's recipient, a version's template); a
    shared template is the default organisation's; anything else (a notification type, a price: only the default
    organisation's staff change those) the acting organisation's."""
    if obj is None:
        return acting_organisation_id()
    if hasattr(obj, "organisation_id"):
        return obj.organisation_id or DEFAULT_ORGANISATION_ID
    for name in _OWNERS:
        owner = getattr(obj, name, None) if any(f.name == name for f in obj._meta.fields) else None
        if owner is not None and hasattr(owner, "organisation_id"):
            return owner.organisation_id or DEFAULT_ORGANISATION_ID
    return acting_organisation_id()


def fields_of(obj: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The named fields of `obj`, for `before` / `after`."""
    return {name: getattr(obj, name) for name in names}
