"""Organisations (tenants), enforced in one place: the managers of tenant-owned models narrow every query to the
organisation in scope, so no view, selector, admin page or export has to remember a filter.

The scope is per request (or per task): `everything` for workers, beat, management commands and superusers;
one organisation's id for its service clients, staff users and end users; `nothing` for a request nobody has
authenticated. A web request's scope follows whoever the request has authenticated so far (orgs.scoping: the
session user, then the API's token holder or end user), so a view reached without authentication sees no tenant
row at all: it fails closed.
Public endpoints that must find any tenant's row (provider webhooks, unsubscribe links) say so with
`everything()` in the view.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any, Final

from django.db import models
from django.db.models import Q

# the organisation migration orgs/0001 creates; a single-organisation install keeps everything in it
DEFAULT_ORGANISATION_ID: Final = 1
DEFAULT_ORGANISATION_SLUG: Final = "default"


class _Everything:
    def __repr__(self) -> str:
        return "everything"


class _Nothing:
    def __repr__(self) -> str:
        return "nothing"


EVERYTHING: Final = _Everything()
NOTHING: Final = _Nothing()
Scope = int | _Everything | _Nothing


class Deferred:
    """A scope worked out when a query asks (a request's: its caller may authenticate after the scope is set)."""

    __slots__ = ("resolve",)

    def __init__(self, resolve: Callable[[], Scope]) -> None:
        self.resolve = resolve


_scope: contextvars.ContextVar[Scope | Deferred] = contextvars.ContextVar("commhub_organisation", default=EVERYTHING)


def current() -> Scope:
    value = _scope.get()
    return value.resolve() if isinstance(value, Deferred) else value


def current_organisation_id() -> int | None:
    """The one organisation in scope, or None (everything or nothing)."""
    value = current()
    return value if isinstance(value, int) else None


def enter(value: Scope | Deferred) -> contextvars.Token:
    """Set the scope until reset (the request middleware; everything else uses `within` or `everything`)."""
    return _scope.set(value)


def reset(token: contextvars.Token) -> None:
    _scope.reset(token)


@contextlib.contextmanager
def within(value: Scope | Deferred) -> Iterator[None]:
    token = _scope.set(value)
    try:
        yield
    finally:
        _scope.reset(token)


def everything() -> contextlib.AbstractContextManager[None]:
    """For code that serves every organisation by design: a provider's webhook, an unsubscribe link, a snapshot
    of a shared table."""
    return within(EVERYTHING)


def acting_organisation_id() -> int:
    """The organisation a write or a lookup by a tenant key (a recipient's external id) acts in: the one in
    scope, or the default organisation (a worker, a command or a superuser that names none)."""
    return current_organisation_id() or DEFAULT_ORGANISATION_ID


def acting_as_operator() -> bool:
    """Whether the scope may change what every organisation shares (notification types, layouts, partials,
    prices, default templates): everything (a superuser, a worker, a command) or the default organisation."""
    value = current()
    return isinstance(value, _Everything) or value == DEFAULT_ORGANISATION_ID


def owner_of_new_shared_or_own() -> int | None:
    """Whose a new row of a shared-or-own table (templates, prices) is: the operator's make the shared default
    (None); any other organisation its own override."""
    return None if acting_as_operator() else acting_organisation_id()


def every_organisation(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that serves every organisation by design (a provider's webhook, an unsubscribe link): it finds
    any organisation's row by the id the caller proves it holds (a signature, a signed token)."""

    @functools.wraps(view)
    def serving_everyone(*args: Any, **kwargs: Any) -> Any:
        with everything():
            return view(*args, **kwargs)

    return serving_everyone


def organisation_for_new_rows() -> int:
    """The default of every `organisation` field (migrations name this function: keep it)."""
    return acting_organisation_id()


def organisation_field(**options: Any) -> models.ForeignKey:
    """The `organisation` of a tenant-owned row: the acting organisation's unless set (`options` add to or
    override PROTECT, no reverse accessor, that default)."""
    options = {"on_delete": models.PROTECT, "related_name": "+", "default": organisation_for_new_rows, **options}
    return models.ForeignKey("orgs.Organisation", **options)


def shared_or_own_field(help_text: str) -> models.ForeignKey:
    """The `organisation` of a row that is either shared (none) or an organisation's own override of it."""
    return models.ForeignKey(
        "orgs.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=help_text
    )


def narrow(queryset: models.QuerySet, path: str, *, shared: bool = False) -> models.QuerySet:
    """`queryset` as the scope allows: all of it, none of it, or one organisation's rows (`path` names the
    organisation field, e.g. "recipient__organisation"); `shared` rows (no organisation) are everyone's."""
    value = current()
    if isinstance(value, _Everything):
        return queryset
    if isinstance(value, _Nothing):
        return queryset.none()
    condition = Q(**{path: value})
    if shared:
        condition |= Q(**{f"{path}__isnull": True})
    return queryset.filter(condition)


class OperatorOnly(models.Manager):
    """Rows about the whole hub that no organisation owns (queue depths): the operator's, i.e. the default
    organisation's and superusers'."""

    def get_queryset(self) -> models.QuerySet:
        queryset = super().get_queryset()
        return queryset if acting_as_operator() else queryset.none()


class OrganisationScoped(models.Manager):
    """The default manager of a tenant-owned model: every query it starts is narrowed to the scope. Foreign-key
    access and `save()` go through the base manager (Django's), so an object already in hand stays usable.

    `path` names the organisation field (through a relation: "recipient__organisation"); `shared` rows have none.
    Both are class attributes, not constructor arguments: Django builds reverse-relation managers
    (`template.versions`) from this class without them."""

    path = "organisation"
    shared = False

    def get_queryset(self) -> models.QuerySet:
        return narrow(super().get_queryset(), self.path, shared=self.shared)


class SharedOrOwn(OrganisationScoped):
    """Templates: the organisation's own and the shared defaults (no organisation)."""

    shared = True


class ThroughRecipient(OrganisationScoped):
    path = "recipient__organisation"


class ThroughNotification(OrganisationScoped):
    path = "notification__organisation"


class ThroughBudget(OrganisationScoped):
    path = "budget__organisation"


class ThroughRecurring(OrganisationScoped):
    path = "recurring__organisation"


class ThroughTemplate(OrganisationScoped):
    path = "template__organisation"
    shared = True
