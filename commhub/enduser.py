"""End-user tokens: JWTs the product's own backend issues to its users (seed 001's pattern).

commhub verifies them with a key it shares with that backend (HS256) or the backend's public key (RS256),
and reads the recipient's external id from a configurable claim. No Django user exists for an end user:
the request's user is an `EndUser`, which only the /api/v1/me/ views accept. The key must differ from the
service tokens' key (settings refuse an equal one), so neither kind of token passes as the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.apps import apps
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from commhub import tenancy
from commhub.tenancy import DEFAULT_ORGANISATION_SLUG
from commhub.text import unstorable


@dataclass(frozen=True)
class EndUser:
    """A person of the product, authenticated by their own token; `external_id` names their recipient."""

    external_id: str
    claims: dict[str, Any] = field(default_factory=dict, compare=False)
    organisation_id: int = tenancy.DEFAULT_ORGANISATION_ID  # the request sees this organisation only
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    def get_username(self) -> str:
        return f"user:{self.external_id}"

    def __str__(self) -> str:
        return self.get_username()


def end_user_of(request: Any) -> EndUser:
    """The person an end-user token authenticated (the /me/ views admit no one else)."""
    user = request.user
    if not isinstance(user, EndUser):
        raise PermissionError("not an end-user request")
    return user


class TokenNotConfigured(Exception):
    pass


_jwks_clients: dict[tuple[str, float], jwt.PyJWKClient] = {}


def _organisation_key(organisation: str) -> str:
    """Another organisation's own end-user key (signs and verifies: HS256)."""
    key = settings.USER_JWT["ORGANISATION_KEYS"].get(organisation)
    if not key:
        raise TokenNotConfigured(
            f"End-user tokens of organisation {organisation!r} are not configured here (USER_JWT_ORGANISATION_KEYS)."
        )
    return key


def _verifying_key(token: str, organisation: str) -> Any:
    """The key to check `token` with: another organisation's own shared secret (USER_JWT_ORGANISATION_KEYS), or
    for the default organisation the shared secret (HS*), the configured public key, or the key the issuer's
    JWKS names by the token's `kid` (fetched and cached; a rotated key is fetched when a token names it)."""
    conf = settings.USER_JWT
    if organisation:
        return _organisation_key(organisation)
    if conf["JWKS_URL"] and not conf["ALGORITHM"].startswith("HS"):
        # an unknown `kid` refetches the set at most once per cooldown: a stream of made-up kids is not a
        # stream of requests to the issuer
        where = (conf["JWKS_URL"], float(conf["JWKS_COOLDOWN_SECONDS"]))
        client = _jwks_clients.get(where)
        if client is None:
            client = jwt.PyJWKClient(where[0], lifespan=300, timeout=5, cooldown_duration=where[1])
            _jwks_clients[where] = client
        return client.get_signing_key_from_jwt(token).key
    key = conf["SIGNING_KEY"] if conf["ALGORITHM"].startswith("HS") else conf["PUBLIC_KEY"]
    if not key:
        raise TokenNotConfigured("End-user tokens are not configured on this server (USER_JWT_SIGNING_KEY).")
    return key


def _signing_key(organisation: str = "") -> str:
    conf = settings.USER_JWT
    if organisation:
        return _organisation_key(organisation)
    key = conf["SIGNING_KEY"] if conf["ALGORITHM"].startswith("HS") else conf["PRIVATE_KEY"]
    if not key:
        raise TokenNotConfigured(
            "No key to sign end-user tokens with: set USER_JWT_SIGNING_KEY (HS*) or USER_JWT_PRIVATE_KEY (RS*/ES*)."
        )
    return key


def token_organisation(token: str) -> str:
    """The organisation a token claims to be from (USER_JWT_ORGANISATION_CLAIM), "" for the default one. Read
    before the signature is checked, to choose the key: only that organisation's key then verifies it."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}.", code="token_invalid") from exc
    value = unverified.get(settings.USER_JWT["ORGANISATION_CLAIM"], "")
    if not isinstance(value, str) or len(value) > 64 or unstorable(value):
        raise AuthenticationFailed("The organisation claim is not an organisation's name.", code="token_invalid")
    return "" if value == DEFAULT_ORGANISATION_SLUG else value


def decode_user_token(token: str) -> dict[str, Any]:
    """The claims of a valid end-user token. The algorithm is pinned (no `none`, no key confusion); `exp` and
    `iat` are required, `iat` may not be in the future and the token may not live longer than
    USER_JWT_MAX_LIFETIME_MINUTES (a leaked token with a ten-year `exp` is refused); audience and issuer are
    checked when configured. A token of an organisation other than the default one is checked with that
    organisation's own key and algorithm HS256, so one product cannot speak for another's users."""
    conf = settings.USER_JWT
    organisation = token_organisation(token)
    try:
        claims = jwt.decode(
            token,
            _verifying_key(token, organisation),
            algorithms=["HS256" if organisation else conf["ALGORITHM"]],
            audience=conf["AUDIENCE"],
            issuer=conf["ISSUER"],
            leeway=conf["LEEWAY_SECONDS"],
            options={"require": ["exp", "iat"]},
        )
    except TokenNotConfigured as exc:
        raise AuthenticationFailed(str(exc)) from exc
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed("Token expired.", code="token_expired") from exc
    except jwt.PyJWKClientError as exc:
        raise AuthenticationFailed(f"No key to check this token with: {exc}.", code="token_invalid") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"Invalid token: {exc}.", code="token_invalid") from exc
    lifetime = claims["exp"] - claims["iat"]
    if not isinstance(lifetime, int | float) or lifetime > conf["MAX_LIFETIME_MINUTES"] * 60:
        raise AuthenticationFailed(
            f"Token lives longer than {conf['MAX_LIFETIME_MINUTES']} minutes (exp - iat).", code="token_invalid"
        )
    value = claims.get(conf["USER_CLAIM"])
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise AuthenticationFailed(f"Token has no {conf['USER_CLAIM']!r} claim.", code="token_invalid")
    if len(str(value)) > 128:
        raise AuthenticationFailed(f"The {conf['USER_CLAIM']!r} claim is too long.", code="token_invalid")
    if unstorable(str(value)):  # no recipient can have this id: looking it up would fail in the database
        raise AuthenticationFailed(f"The {conf['USER_CLAIM']!r} claim is not valid text.", code="token_invalid")
    return claims


def mint_user_token(
    external_id: str, *, ttl_minutes: int | None = None, extra: dict | None = None, organisation: str = ""
) -> str:
    """A token as the product's backend would issue it (for tests, support and `issue_user_token`); `organisation`
    (a slug) signs it with that organisation's key."""
    conf = settings.USER_JWT
    now = datetime.now(UTC)
    organisation = "" if organisation == DEFAULT_ORGANISATION_SLUG else organisation
    payload: dict[str, Any] = {
        **({conf["ORGANISATION_CLAIM"]: organisation} if organisation else {}),
        **(extra or {}),
        conf["USER_CLAIM"]: external_id,
        "sub": str(external_id),
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes or conf["TTL_MINUTES"]),
    }
    if conf["AUDIENCE"]:
        payload["aud"] = conf["AUDIENCE"]
    if conf["ISSUER"]:
        payload["iss"] = conf["ISSUER"]
    return jwt.encode(payload, _signing_key(organisation), algorithm="HS256" if organisation else conf["ALGORITHM"])


class EndUserAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token from the product's backend>` -> an EndUser."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            token = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        claims = decode_user_token(token)
        organisation_id = _organisation_id(claims.get(settings.USER_JWT["ORGANISATION_CLAIM"]) or "")
        user = EndUser(
            external_id=str(claims[settings.USER_JWT["USER_CLAIM"]]).strip(),
            claims=claims,
            organisation_id=organisation_id,
        )
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="commhub end user"'


def _organisation_id(slug: str) -> int:
    if not slug or slug == DEFAULT_ORGANISATION_SLUG:
        return tenancy.DEFAULT_ORGANISATION_ID
    # by name: commhub's core imports no app (orgs sits above it)
    found = apps.get_model("orgs", "Organisation").objects.filter(slug=slug, is_active=True).first()
    if found is None:
        raise AuthenticationFailed(f"No active organisation {slug!r}.", code="token_invalid")
    return found.pk


class EndUserTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of /api/v1/me/ (Swagger's "Authorize" offers it beside the service JWT)."""

    target_class = EndUserAuthentication
    name = "endUserToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A person's token, issued by the product's own backend (or `manage.py issue_user_token "
            "<user id>` for a try-out). It reaches /api/v1/me/ only, and only that person's data.",
        }


class IsEndUser(permissions.BasePermission):
    message = "This endpoint takes an end-user token issued by the product's backend."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, EndUser)
