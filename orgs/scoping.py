"""Who sees which organisation: a request's scope follows whoever it has authenticated so far.

The middleware gives every request a deferred scope that reads the request's user when a query asks: anonymous
(nothing), the session's staff user, or, once DRF has authenticated the call (it sets the Django request's user
too), the service client or the end user. A view that queries before anyone authenticated sees nothing. Views
that serve every organisation by design (provider webhooks, unsubscribe links) enter `everything()` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from commhub import tenancy
from commhub.sql import row_by

from .models import Membership

INACTIVE = "This organisation is deactivated."


@dataclass(frozen=True)
class Member:
    """What the scope needs of a user's membership."""

    organisation_id: int
    active: bool  # the organisation's is_active


def scope_of_user(user: Any) -> tenancy.Scope:
    """A superuser sees everything; an end user their token's organisation; anyone else their membership's
    organisation (the default one without a membership; nothing if it is deactivated); anonymous nothing."""
    if user is None or not getattr(user, "is_authenticated", False):
        return tenancy.NOTHING
    if getattr(user, "pk", None) is None:  # an end user (commhub.enduser): no Django user, an organisation
        return getattr(user, "organisation_id", None) or tenancy.NOTHING
    if user.is_superuser:
        return tenancy.EVERYTHING
    member = _member(user)
    if member is None:
        return tenancy.DEFAULT_ORGANISATION_ID
    return member.organisation_id if member.active else tenancy.NOTHING


_MEMBER_SQL = (
    'SELECT m."organisation_id", o."is_active" FROM "orgs_membership" m '
    'JOIN "orgs_organisation" o ON o."id" = m."organisation_id" WHERE m."user_id" = %s'
)


def _member(user: Any) -> Member | None:
    """Read once per request (cached on the user object), by a fixed statement: every API request asks, and
    compiling an ORM query for it cost more than the database spends answering."""
    cached: Member | bool | None = getattr(user, "_commhub_member", False)
    if cached is not False:
        return cached if isinstance(cached, Member) else None
    with connections[router.db_for_read(Membership)].cursor() as cursor:
        cursor.execute(_MEMBER_SQL, [user.pk])
        row = cursor.fetchone()
    found = Member(organisation_id=row[0], active=bool(row[1])) if row else None
    user._commhub_member = found
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


class RefusesDeactivatedOrganisations:
    """For a DRF authentication class: a user of a deactivated organisation is refused (401), not let in to
    see nothing."""

    def authenticate(self, request: Any) -> Any:
        found = super().authenticate(request)  # type: ignore[misc]
        if found is not None and getattr(found[0], "pk", None) and scope_of_user(found[0]) is tenancy.NOTHING:
            raise AuthenticationFailed(INACTIVE, code="organisation_inactive")
        return found


class ScopedJWTAuthentication(RefusesDeactivatedOrganisations, JWTAuthentication):
    """simplejwt's, with the user read by a statement built once (its organisation by another, cached on the
    user for the request), refusing a deactivated organisation's tokens."""

    def get_user(self, validated_token: Any) -> Any:
        """simplejwt's checks, in its order (id claim, user, active, password unchanged), on a user read by a
        statement built once (commhub.sql.row_by) rather than a query compiled per request."""
        try:
            user_id = validated_token[jwt_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        user = row_by(self.user_model, jwt_settings.USER_ID_FIELD, user_id)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if jwt_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            jwt_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
        return user


class ScopedSessionAuthentication(RefusesDeactivatedOrganisations, SessionAuthentication):
    """DRF's, refusing a deactivated organisation's staff."""


class ScopedJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme: simplejwt's, for the subclass above."""

    target_class = ScopedJWTAuthentication  # type: ignore[assignment]  # drf-spectacular takes a class or its path


class ScopedSessionScheme(SessionScheme):
    target_class = ScopedSessionAuthentication  # type: ignore[assignment]  # (as above)
