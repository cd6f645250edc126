"""Push: Web Push (VAPID) for browsers and Firebase Cloud Messaging (HTTP v1) for apps, or captured in the
database (embedded mode)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import env

# capture: messages stored in the database (read them in the admin); live: sent to the push services.
PUSH_PROVIDER = env.str("PUSH_PROVIDER", default="capture").lower()
# The application server's VAPID key (RFC 8292): `manage.py vapid_keys` makes a pair; `make run` writes its own.
# The raw private key, base64url (what vapid_keys prints), or PEM.
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="").replace("\\n", "\n")
# Who push services contact about this sender: a mailto: or https: URL (RFC 8292's "sub" claim).
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:notifications@example.com")
# The hosts a browser subscription's endpoint may name (a host, or ".example.com" for its subdomains): an
# endpoint is a URL a person hands us and the worker POSTs to, so anything else is refused (no SSRF).
PUSH_ENDPOINT_HOSTS = env.list(
    "PUSH_ENDPOINT_HOSTS",
    default=[
        "fcm.googleapis.com",  # Chrome, Edge, Opera, Samsung Internet
        ".push.services.mozilla.com",  # Firefox
        ".notify.windows.com",  # Edge (legacy)
        ".push.apple.com",  # Safari
    ],
)
# How long a push service keeps a message for a device that is offline (Web Push TTL; FCM's android.ttl).
PUSH_TTL_SECONDS = env.int("PUSH_TTL_SECONDS", default=24 * 3600)
PUSH_TIMEOUT_SECONDS = env.float("PUSH_TIMEOUT_SECONDS", default=10)
# FCM: a Google service account key file (JSON) with the Firebase messaging role. Blank: no app push.
FCM_CREDENTIALS_FILE = env.str("FCM_CREDENTIALS_FILE", default="")
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")  # blank: the key file's project
FCM_API_BASE_URL = env.str("FCM_API_BASE_URL", default="https://fcm.googleapis.com").rstrip("/")
FCM_TOKEN_URL = env.str("FCM_TOKEN_URL", default="")  # blank: the key file's token_uri (Google's OAuth2 endpoint)

if PUSH_PROVIDER not in ("capture", "live"):
    raise ImproperlyConfigured(f"PUSH_PROVIDER must be 'capture' or 'live', not {PUSH_PROVIDER!r}.")
if PUSH_PROVIDER == "live" and not (VAPID_PRIVATE_KEY or FCM_CREDENTIALS_FILE):
    raise ImproperlyConfigured("PUSH_PROVIDER=live needs VAPID_PRIVATE_KEY (browsers) or FCM_CREDENTIALS_FILE (apps).")
if not VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("VAPID_SUBJECT must be a mailto: or https: URL (RFC 8292).")
