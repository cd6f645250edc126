"""Who sees which organisation: a request's scope follows whoever it has authenticated so far.

The middleware gives every request a deferred scope that reads the request's user when a query asks: anonymous
(nothing), the session's staff user, or, once DRF has authenticated the call (it sets the Django request's user
too), the service client or the end user. A view that queries before anyone authenticated sees nothing. Views
that serve every organisation by design (provider webhooks, unsubscribe links) enter `everything()` themselves.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication

from commhub import tenancy

from .models import Membership

INACTIVE = "This organisation is deactivated."


def scope_of_user(user: Any) -> tenancy.Scope:
    """A superuser sees everything; an end user their token's organisation; anyone else their membership's
    organisation (the default one without a membership; nothing if it is deactivated); anonymous nothing."""
    if user is None or not getattr(user, "is_authenticated", False):
        return tenancy.NOTHING
    if getattr(user, "pk", None) is None:  # an end user (commhub.enduser): no Django user, an organisation
        return getattr(user, "organisation_id", None) or tenancy.NOTHING
    if user.is_superuser:
        return tenancy.EVERYTHING
    membership = _membership(user)
    if membership is None:
        return tenancy.DEFAULT_ORGANISATION_ID
    if not membership.organisation.is_active:
        return tenancy.NOTHING
    return membership.organisation_id


def _membership(user: Any) -> Membership | None:
    cached = getattr(user, "_commhub_membership", False)
    if cached is not False:
        return cached
    found = Membership.objects.select_related("organisation").filter(user_id=user.pk).first()
    user._commhub_membership = found
    return found


class OrganisationScopeMiddleware:
    """After AuthenticationMiddleware: the request's scope is its user's, read when a query needs it."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = tenancy.enter(tenancy.Deferred(lambda: scope_of_user(getattr(request, "user", None))))
        try:
            return self.get_response(request)
        finally:
            tenancy.reset(token)


def _refuse_inactive(user: Any) -> None:
    if getattr(user, "pk", None) and scope_of_user(user) is tenancy.NOTHING:
        raise AuthenticationFailed(INACTIVE, code="organisation_inactive")


class ScopedJWTAuthentication(JWTAuthentication):
    """simplejwt's, refusing the token of a user whose organisation is deactivated."""

    def authenticate(self, request: Any) -> Any:
        found = super().authenticate(request)
        if found is not None:
            _refuse_inactive(found[0])
        return found


class ScopedSessionAuthentication(SessionAuthentication):
    def authenticate(self, request: Any) -> Any:
        found = super().authenticate(request)
        if found is not None:
            _refuse_inactive(found[0])
        return found


class ScopedJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme: simplejwt's, for the subclass above."""

    target_class = ScopedJWTAuthentication


class ScopedSessionScheme(SessionScheme):
    target_class = ScopedSessionAuthentication
