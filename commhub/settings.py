"""commhub settings: one module, every knob from the environment.

The defaults give the embedded mode (SQLite, the filesystem Celery broker,
email and SMS captured in the database) so a fresh checkout runs with no
servers. Production differs only through environment variables; every one of
them is listed in the README's configuration table.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

DATA_DIR = Path(env.str("COMMHUB_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()

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
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",
    "preferences",
    "templates_app",
    "analytics",
    "notifications",
]

MIDDLEWARE = [
    "commhub.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# --- database -----------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'commhub.sqlite3'}"),
}
_db = DATABASES["default"]
# Persistent connections: a new PostgreSQL connection costs ~6 ms here, more than a whole send.
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock at BEGIN so
    # two claimers serialise instead of failing with "database is locked" half-way through.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests with a real worker process need an on-disk test database the worker can open too.
    _db.setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test_commhub.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"  # the admin previews captured HTML email in a sandboxed same-origin iframe
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=5 * 1024 * 1024)

# --- API ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every view names its own permission, so a forgotten one is a 403, not a leak.
    "DEFAULT_PERMISSION_CLASSES": ["commhub.permissions.DenyAll"],
    "DEFAULT_PAGINATION_CLASS": "commhub.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
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
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API description is public
    "ENUM_NAME_OVERRIDES": {"ChannelEnum": "notifications.constants.Channel.choices"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "commhub.api.contract_paths_as_documented",
    ],
}

# --- Celery -------------------------------------------------------------------------------------------
# The database row is the queue of record; Celery messages are only wake-ups ("kicks"). See
# commhub/celery.py for queues and routing.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env.float("CELERY_POLLING_INTERVAL", default=0.2),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Strict queue order: a worker always empties sms_critical before looking at email_education.
        "queue_order_strategy": "priority",
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
# Publishing a kick must never hold an API request hostage when the broker is down: the row is already
# committed and the sweeper re-kicks it, so give up quickly.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery's Django fix-up closes the DB connection around every task unless this is set (celery#4116);
# reopening costs more than the task itself.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# --- email (django-anymail) ---------------------------------------------------------------------------
# EMAIL_PROVIDER: "capture" (stored in the database, readable in the admin), "smtp", "console" or any
# anymail ESP name (mailgun, postmark, sendgrid, resend, brevo, mailjet, amazon_ses, ...).
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="capture").lower()
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="commhub <noreply@commhub.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL: dict = {}
# The credential each ESP calls its key (anymail's own setting names); API_KEY for the rest.
_ESP_KEY_NAMES = {"postmark": "SERVER_TOKEN", "mailjet": "API_KEY", "sparkpost": "API_KEY"}
if EMAIL_PROVIDER == "capture":
    EMAIL_BACKEND = "notifications.channels.capture.CaptureEmailBackend"
elif EMAIL_PROVIDER == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif EMAIL_PROVIDER == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = f"anymail.backends.{EMAIL_PROVIDER}.EmailBackend"
    _esp = EMAIL_PROVIDER.upper()
    if env.str("EMAIL_API_KEY", default=""):
        ANYMAIL[f"{_esp}_{_ESP_KEY_NAMES.get(EMAIL_PROVIDER, 'API_KEY')}"] = env.str("EMAIL_API_KEY")
    if env.str("EMAIL_API_URL", default=""):
        ANYMAIL[f"{_esp}_API_URL"] = env.str("EMAIL_API_URL")
    if env.str("EMAIL_SENDER_DOMAIN", default=""):
        ANYMAIL[f"{_esp}_SENDER_DOMAIN"] = env.str("EMAIL_SENDER_DOMAIN")
# Tracking webhooks (/webhooks/anymail/<esp>/tracking/) are served only with a shared secret (HTTP basic auth
# the ESP sends; comma-separate two for rotation) and, where the ESP signs, its signing key.
if env.str("EMAIL_WEBHOOK_SECRET", default=""):
    ANYMAIL["WEBHOOK_SECRET"] = env.list("EMAIL_WEBHOOK_SECRET")
if env.str("EMAIL_WEBHOOK_SIGNING_KEY", default="") and EMAIL_PROVIDER not in ("capture", "console", "smtp"):
    ANYMAIL[f"{EMAIL_PROVIDER.upper()}_WEBHOOK_SIGNING_KEY"] = env.str("EMAIL_WEBHOOK_SIGNING_KEY")
# Any other anymail setting passes straight through: ANYMAIL_<NAME>=value -> ANYMAIL["<NAME>"].
for _key, _value in env.ENVIRON.items():
    if _key.startswith("ANYMAIL_") and len(_key) > len("ANYMAIL_"):
        ANYMAIL[_key[len("ANYMAIL_") :]] = _value
# More ESPs, tried in order when the one before fails (circuit breaker per provider). Their credentials come
# through ANYMAIL_<ESP>_... variables, e.g. EMAIL_FALLBACK_PROVIDERS=postmark + ANYMAIL_POSTMARK_SERVER_TOKEN.
EMAIL_FALLBACK_BACKENDS = [
    f"anymail.backends.{name.strip().lower()}.EmailBackend" for name in env.list("EMAIL_FALLBACK_PROVIDERS", default=[])
]
ANYMAIL.setdefault("REQUESTS_TIMEOUT", (3.05, env.float("EMAIL_TIMEOUT_SECONDS", default=15)))

# --- SMS (Twilio) -------------------------------------------------------------------------------------
SMS_PROVIDER = env.str("SMS_PROVIDER", default="capture").lower()
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="ACdevelopment00000000000000000000")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="+15005550006")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
# Several senders (phone numbers, or Messaging Service SIDs starting "MG"), in failover order: each has its
# own circuit breaker and its own pace (COMMHUB_SENDER_RATES "twilio:<sender>"). Blank: the one above.
TWILIO_SENDERS = env.list("TWILIO_SENDERS", default=[])
# Points the real Twilio client at another host (a local fake in tests, an egress proxy in production).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=15)
# Ask Twilio to report delivery (and its final price) to /webhooks/twilio/status on PUBLIC_BASE_URL.
TWILIO_STATUS_CALLBACKS = env.bool("TWILIO_STATUS_CALLBACKS", default=True)
if SMS_PROVIDER == "twilio" and not TWILIO_AUTH_TOKEN and not DEBUG:
    raise ImproperlyConfigured("SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
if SMS_PROVIDER not in ("capture", "twilio"):
    raise ImproperlyConfigured(f"SMS_PROVIDER must be 'capture' or 'twilio', not {SMS_PROVIDER!r}.")

# --- the pipeline -------------------------------------------------------------------------------------
COMMHUB = {
    # How long a worker owns a claimed row; the sweeper re-queues rows whose lease ran out.
    "LEASE_SECONDS": env.int("COMMHUB_LEASE_SECONDS", default=120),
    # Rows claimed per drain task; each row is still sent and recorded one at a time.
    "DRAIN_BATCH_SIZE": env.int("COMMHUB_DRAIN_BATCH_SIZE", default=50),
    # Sender threads per drain: they overlap database commits with provider round trips. SQLite has one
    # writer at a time, so more than one buys nothing there.
    "DRAIN_THREADS": env.int(
        "COMMHUB_DRAIN_THREADS", default=1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8
    ),
    # How long a group-commit leader waits for the other senders' records before writing (milliseconds).
    "GROUP_COMMIT_WAIT_MS": env.float("COMMHUB_GROUP_COMMIT_WAIT_MS", default=2.0),
    # A drain task hands its queue back to the broker after this long so higher tiers get a turn.
    "DRAIN_TIME_BUDGET_SECONDS": env.float("COMMHUB_DRAIN_TIME_BUDGET_SECONDS", default=5.0),
    # Largest accepted batch request.
    "BATCH_MAX_ITEMS": env.int("COMMHUB_BATCH_MAX_ITEMS", default=1000),
    # Beat intervals for the due-row dispatcher and the sweeper.
    "DISPATCH_DUE_INTERVAL_SECONDS": env.int("COMMHUB_DISPATCH_DUE_INTERVAL", default=5),
    "SWEEP_INTERVAL_SECONDS": env.int("COMMHUB_SWEEP_INTERVAL", default=30),
    # Queued rows untouched this long get their queue kicked again (the broker may have lost the kick).
    "STALE_QUEUED_SECONDS": env.int("COMMHUB_STALE_QUEUED_SECONDS", default=60),
    # Retry delays up to this long are also kicked with a Celery countdown (well under the broker's
    # visibility timeout); longer ones wait for the beat dispatcher.
    "RETRY_COUNTDOWN_MAX_SECONDS": env.int("COMMHUB_RETRY_COUNTDOWN_MAX", default=300),
    # How many times a row may be claimed without finishing before it is declared poison.
    "MAX_CLAIMS": env.int("COMMHUB_MAX_CLAIMS", default=5),
    # Seconds an API client's permission set is cached per process (a revocation applies within it).
    "PERMISSION_CACHE_SECONDS": env.int("COMMHUB_PERMISSION_CACHE_SECONDS", default=30),
    # Seconds the in-process type/template/pricing caches may lag an edit made in another process.
    "CATALOGUE_CACHE_SECONDS": env.float("COMMHUB_CATALOGUE_CACHE_SECONDS", default=5.0),
    # Quiet hours: the local-time window in which types that respect quiet hours may be sent (TCPA: 08-21),
    # unless the recipient set a window of their own; the channels it applies to; and the zones assumed
    # (all must agree) when a recipient's zone is unknown.
    "SEND_WINDOW_START": env.str("COMMHUB_SEND_WINDOW_START", default="08:00"),
    "SEND_WINDOW_END": env.str("COMMHUB_SEND_WINDOW_END", default="21:00"),
    "QUIET_HOURS_CHANNELS": env.list("COMMHUB_QUIET_HOURS_CHANNELS", default=["sms"]),
    "UNKNOWN_TIMEZONES": env.list("COMMHUB_UNKNOWN_TIMEZONES", default=["America/New_York", "America/Los_Angeles"]),
    # The reply to an SMS "HELP" (carriers require one).
    "SMS_HELP_REPLY": env.str(
        "COMMHUB_SMS_HELP_REPLY",
        default="commhub alerts: reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply.",
    ),
    # Provider failover: consecutive failures that open a provider's circuit, and how long it stays open
    # before one send probes it again.
    "BREAKER_FAILURES": env.int("COMMHUB_BREAKER_FAILURES", default=3),
    "BREAKER_OPEN_SECONDS": env.float("COMMHUB_BREAKER_OPEN_SECONDS", default=30.0),
    # Rate limits, shared by every worker on every host: in Redis when this names one (default: the broker,
    # when the broker is Redis), else in the database. The catalogue's per type x channel limits can be
    # switched off (e.g. for a benchmark); senders are paced in units (messages; SMS segments) per second,
    # e.g. "twilio:+15005550006=1,twilio:+18005550100=3,mailgun=100". A critical message may go ahead of
    # this many units of bulk work on its sender; a wait up to RATE_WAIT_INLINE_SECONDS is slept in the
    # sender thread, a longer one puts the row back in its queue until the limit has room.
    "RATE_LIMIT_REDIS_URL": env.str(
        "COMMHUB_RATE_LIMIT_REDIS_URL",
        default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
    ),
    "TYPE_RATE_LIMITS": env.bool("COMMHUB_TYPE_RATE_LIMITS", default=True),
    "SENDER_RATES": env.dict("COMMHUB_SENDER_RATES", cast={"value": float}, default={}),
    "RATE_CRITICAL_HEADROOM": env.int("COMMHUB_RATE_CRITICAL_HEADROOM", default=5),
    "RATE_WAIT_INLINE_SECONDS": env.float("COMMHUB_RATE_WAIT_INLINE_SECONDS", default=1.0),
    # Rollups: the periodic task rebuilds the last ROLLUP_DAYS days (the days still changing) every
    # ROLLUP_INTERVAL seconds, and corrects budget spend to the ledger.
    "ROLLUP_DAYS": env.int("COMMHUB_ROLLUP_DAYS", default=3),
    "ROLLUP_INTERVAL_SECONDS": env.int("COMMHUB_ROLLUP_INTERVAL", default=300),
    "QUEUE_SAMPLE_INTERVAL_SECONDS": env.int("COMMHUB_QUEUE_SAMPLE_INTERVAL", default=60),
    "RETENTION_PURGE_INTERVAL_SECONDS": env.int("COMMHUB_RETENTION_PURGE_INTERVAL", default=3600),
    # Retention of queue-depth samples and of captured (embedded-mode) messages.
    "SAMPLE_RETENTION_DAYS": env.int("COMMHUB_SAMPLE_RETENTION_DAYS", default=14),
    "CAPTURE_RETENTION_DAYS": env.int("COMMHUB_CAPTURE_RETENTION_DAYS", default=30),
    # Who hears about a crossed alert budget (recipient external ids; "staff" is created with STAFF_EMAIL).
    "BUDGET_ALERT_RECIPIENTS": env.list("COMMHUB_BUDGET_ALERT_RECIPIENTS", default=["staff"]),
    "STAFF_EMAIL": env.str("COMMHUB_STAFF_EMAIL", default="ops@commhub.localhost"),
    # /metrics reads its database gauges at most this often; workers report a heartbeat this often, and
    # /health calls the workers down when none reported within HEARTBEAT_STALE_SECONDS.
    "METRICS_CACHE_SECONDS": env.float("COMMHUB_METRICS_CACHE_SECONDS", default=10.0),
    "HEARTBEAT_SECONDS": env.float("COMMHUB_HEARTBEAT_SECONDS", default=10.0),
    "HEARTBEAT_STALE_SECONDS": env.float("COMMHUB_HEARTBEAT_STALE_SECONDS", default=60.0),
    # How long an `unknown` send (timed out after the request went out) waits for the provider's callback
    # before the sweeper sends it once more.
    "UNKNOWN_SETTLE_SECONDS": env.int("COMMHUB_UNKNOWN_SETTLE_SECONDS", default=3600),
    # How long an Idempotency-Key (and the response it replays) is kept.
    "IDEMPOTENCY_TTL_HOURS": env.int("COMMHUB_IDEMPOTENCY_TTL_HOURS", default=24),
    # Every template render stops past this many seconds or this many characters of output (a staff-written
    # template cannot hang a worker or fill its memory).
    "TEMPLATE_RENDER_SECONDS": env.float("COMMHUB_TEMPLATE_RENDER_SECONDS", default=1.0),
    "TEMPLATE_MAX_OUTPUT_CHARS": env.int("COMMHUB_TEMPLATE_MAX_OUTPUT_CHARS", default=500_000),
    # The mailto: half of List-Unsubscribe (blank: unsubscribe@ the sender's domain).
    "UNSUBSCRIBE_MAILTO": env.str("COMMHUB_UNSUBSCRIBE_MAILTO", default=""),
}

# --- metrics ------------------------------------------------------------------------------------------
# Every process (web, workers) writes its counters here and /metrics adds them up (prometheus-client's
# multiprocess mode). The variable must be set before prometheus_client is imported, hence os.environ.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# /metrics wants this bearer token when set; without one it answers the loopback address only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

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

# --- logging ------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: "time LEVEL logger [notification id] message"; json: one object per line (see commhub/logs.py)
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"notification": {"()": "commhub.logs.NotificationContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(notification_id)s] %(message)s"},
        "json": {"()": "commhub.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["notification"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "twilio.http_client": {"level": "WARNING"}},
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu warns that a filesystem:// URL has no host name; there is none to give.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
