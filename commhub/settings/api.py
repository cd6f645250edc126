"""The REST API: DRF, the OpenAPI schema, service-account JWTs and end-user JWTs."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG, SECRET_KEY, env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # both set the request's organisation scope from the caller (commhub.tenancy)
        "orgs.scoping.ScopedJWTAuthentication",
        "orgs.scoping.ScopedSessionAuthentication",
    ],
    # Deny by default: every view names its own permission, so a forgotten one is a 403, not a leak.
    "DEFAULT_PERMISSION_CLASSES": ["commhub.permissions.DenyAll"],
    "DEFAULT_PAGINATION_CLASS": "commhub.api.Pagination",
    # Per client, end user or address, shared by every web process (commhub.throttling; 429 + Retry-After).
    "DEFAULT_THROTTLE_CLASSES": ["commhub.throttling.ApiThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "commhub.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["commhub.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "commhub.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}

_jwt_algorithm = env.str("JWT_ALGORITHM", default="HS256")
_jwt_signing_key = env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ALGORITHM": _jwt_algorithm,
    "SIGNING_KEY": _jwt_signing_key,
    "VERIFYING_KEY": env.str("JWT_VERIFYING_KEY", default="") or None,
    "AUDIENCE": env.str("JWT_AUDIENCE", default="") or None,
    "ISSUER": env.str("JWT_ISSUER", default="") or None,
    "LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=0),
    # A refresh token is used once: refreshing returns a new one and blacklists the old. Every token carries a
    # hash of the password it was issued under, so a password change ends every access and refresh token.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_REFRESH_SERIALIZER": "commhub.tokens.RefreshSerializer",
}
if _jwt_algorithm.startswith("HS") and len(_jwt_signing_key) < 32 and not DEBUG:
    raise ImproperlyConfigured("JWT_SIGNING_KEY (or SECRET_KEY) must be at least 32 characters for HS256.")

SPECTACULAR_SETTINGS = {
    "TITLE": "commhub API",
    "DESCRIPTION": "Self-hosted communication hub: send, schedule and follow notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The API reads JSON (the form parsers stay for the token endpoint's curl-friendly form posts).
    "PARSER_WHITELIST": ["commhub.parsers.StrictJSONParser"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API description is public
    "SERVE_AUTHENTICATION": [],  # whatever token a caller sends (an end user's too), the description is served
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "commhub.channels.choices",
        "NotificationStatusEnum": "notifications.constants.Status",
        "TemplateVersionStatusEnum": "templates_app.models.VersionStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "commhub.api.contract_paths_as_documented",
        "commhub.api.document_error_responses",
    ],
}

# --- end-user tokens ----------------------------------------------------------------------------------
# The product's own backend signs its users' JWTs; commhub verifies them for /api/v1/me/ (no database user
# needed: the claim names the recipient). A different key from the service tokens above, so an end-user
# token can never pass as a service account's.
_DEV_USER_JWT_KEY = "dev-only-end-user-jwt-key-never-use-in-production"
USER_JWT = {
    "ALGORITHM": env.str("USER_JWT_ALGORITHM", default="HS256"),
    "SIGNING_KEY": env.str("USER_JWT_SIGNING_KEY", default=_DEV_USER_JWT_KEY if DEBUG else ""),
    "PUBLIC_KEY": env.str("USER_JWT_PUBLIC_KEY", default="").replace("\\n", "\n"),
    "PRIVATE_KEY": env.str("USER_JWT_PRIVATE_KEY", default="").replace("\\n", "\n"),  # issue_user_token only
    "USER_CLAIM": env.str("USER_JWT_USER_CLAIM", default="user_id"),
    "AUDIENCE": env.str("USER_JWT_AUDIENCE", default="") or None,
    "ISSUER": env.str("USER_JWT_ISSUER", default="") or None,
    "LEEWAY_SECONDS": env.int("USER_JWT_LEEWAY_SECONDS", default=0),
    "TTL_MINUTES": env.int("USER_JWT_TTL_MINUTES", default=60),
    "MAX_LIFETIME_MINUTES": env.int("USER_JWT_MAX_LIFETIME_MINUTES", default=24 * 60),
    "JWKS_URL": env.str("USER_JWT_JWKS_URL", default=""),  # RS*/ES*: the product's keys, by `kid`, rotated
    "JWKS_COOLDOWN_SECONDS": env.float("USER_JWT_JWKS_COOLDOWN_SECONDS", default=30.0),
    # organisations other than the default one: the claim naming it, and each one's own HS256 key (slug=key,...)
    "ORGANISATION_CLAIM": env.str("USER_JWT_ORGANISATION_CLAIM", default="org"),
    "ORGANISATION_KEYS": env.dict("USER_JWT_ORGANISATION_KEYS", default={}),
}
if USER_JWT["ALGORITHM"] not in ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256"):
    raise ImproperlyConfigured(f"USER_JWT_ALGORITHM {USER_JWT['ALGORITHM']!r} is not supported.")
if not DEBUG and USER_JWT["SIGNING_KEY"] == _DEV_USER_JWT_KEY:
    raise ImproperlyConfigured("USER_JWT_SIGNING_KEY is the development default; set a key shared with your backend.")
if USER_JWT["ALGORITHM"].startswith("HS") and USER_JWT["SIGNING_KEY"]:
    if USER_JWT["SIGNING_KEY"] in (SECRET_KEY, _jwt_signing_key):
        raise ImproperlyConfigured("USER_JWT_SIGNING_KEY must differ from SECRET_KEY and JWT_SIGNING_KEY.")
    if len(USER_JWT["SIGNING_KEY"]) < 32 and not DEBUG:
        raise ImproperlyConfigured("USER_JWT_SIGNING_KEY must be at least 32 characters.")
if len(set(USER_JWT["ORGANISATION_KEYS"].values())) < len(USER_JWT["ORGANISATION_KEYS"]):
    raise ImproperlyConfigured(
        "USER_JWT_ORGANISATION_KEYS: two organisations share a key (one could speak for the other)."
    )
for _slug, _key in USER_JWT["ORGANISATION_KEYS"].items():
    if _key in (SECRET_KEY, _jwt_signing_key, USER_JWT["SIGNING_KEY"]) or (len(_key) < 32 and not DEBUG):
        raise ImproperlyConfigured(
            f"USER_JWT_ORGANISATION_KEYS: {_slug}'s key must be at least 32 characters and differ from every other key."
        )

# --- wrong passwords (django-axes) ----------------------------------------------------------------------
# Failed logins on /api/token/ and the admin are counted per address and per username in the database (so every
# web process sees them); past COMMHUB_LOGIN_FAILURE_LIMIT the next attempt is a 429 with Retry-After until the
# lockout ends or staff lift it (admin: Axes > Access attempts, delete; or `manage.py axes_reset_username`).
LOGIN_FAILURE_LIMIT = env.int("COMMHUB_LOGIN_FAILURE_LIMIT", default=20)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT + 1  # axes locks at this many failures: the one after the allowed ones
AXES_COOLOFF_TIME = timedelta(minutes=env.int("COMMHUB_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either: one address trying many names, or one name
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "commhub.throttling.lockout_response"
AXES_CLIENT_IP_CALLABLE = "commhub.net.client_address"
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# The inbox widget runs on the product's own pages (another origin) and calls the end-user API with the person's
# token: those origins, and only the /api/v1/me/ routes, get CORS answers. No cookies (a bearer token).
CORS_ALLOWED_ORIGINS = env.list("COMMHUB_WIDGET_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/me/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ("authorization", "content-type", "last-event-id")
CORS_ALLOW_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS")
CORS_PREFLIGHT_MAX_AGE = 3600
