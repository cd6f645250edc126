"""Secrets, hosts, apps, middleware, templates, static files and security headers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

DATA_DIR = Path(env.str("COMMHUB_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()

# `make run` writes this file once (generated keys, not development defaults), so `manage.py` commands work
# outside `make run` on the same data directory. Variables already in the environment win over it.
EMBEDDED_ENV_FILE = DATA_DIR / "embedded.env"
if EMBEDDED_ENV_FILE.exists():
    environ.Env.read_env(str(EMBEDDED_ENV_FILE))

# --- secrets ------------------------------------------------------------------------------------------
# Development defaults exist so `make run` needs no configuration; each is refused when DEBUG is off.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the development default; set SECRET_KEY (or DEBUG=true for local development)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this service (used to build absolute links such as provider callbacks).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",
    "axes",
    "corsheaders",
    # commhub's apps, lowest layer first: each imports only the ones above it in this list (tests/test_layers.py)
    "audit",
    "orgs",
    "preferences",
    "costs",
    "templates_app",
    "notifications",
    "inbox",
    "push",
    "hooks",
    "calls",
    "triggers",
    "broadcasts",
    "analytics",
]

MIDDLEWARE = [
    "commhub.counters.RequestMetricsMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before anything that answers: a refusal must be readable too
    "commhub.middleware.RefuseOversizedBodies",
    "commhub.middleware.RefuseUnstorableText",
    "audit.context.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "commhub.middleware.ApiErrorsAsJson",
    "commhub.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "orgs.scoping.OrganisationScopeMiddleware",  # every request starts at no organisation (commhub.tenancy)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns an admin login lockout into commhub.throttling.lockout_response
]

ROOT_URLCONF = "commhub.urls"
WSGI_APPLICATION = "commhub.wsgi.application"

TEMPLATES = [
    {
        # Django templates render only commhub's own pages (admin, API docs). Staff-edited message
        # templates never go through this engine: they use the Jinja2 sandbox in templates_app.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "commhub" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
# whitenoise warns on every start when it is missing (before the first collectstatic); a read-only image
# got it from collectstatic at build time.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# gunicorn serves the admin's and Swagger UI's files itself (collectstatic first; see the Dockerfile).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- security headers (production) --------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", False) else None
# Proxies in front of commhub that append to X-Forwarded-For: the caller's address (throttles, lockouts, the audit
# trail) is read that many hops from the right (commhub.net). 0: REMOTE_ADDR, the header ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"  # the admin previews captured HTML email in a sandboxed same-origin iframe
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=5 * 1024 * 1024)
