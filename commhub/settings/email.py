"""Email through django-anymail (any ESP), SMTP, the console, or captured in the database (embedded mode)."""

from __future__ import annotations

from .base import env

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
