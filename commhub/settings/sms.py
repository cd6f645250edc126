"""SMS through Twilio, or captured in the database (embedded mode)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG, env

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
