"""Mailgun tracking webhooks as Mailgun sends them (signed with the webhook signing key, behind anymail's shared
secret), for tests that feed provider feedback through anymail's real view (urls: tests.urls_with_anymail)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

from notifications.models import Notification

SIGNING_KEY = "mailgun-webhook-signing-key"
SECRET = ("anymail-user", "anymail-pass")
TRACKING = "/webhooks/anymail/mailgun/tracking/"


def tracking_webhooks_on(settings, fake):
    """Configure anymail's Mailgun tracking view and Twilio's callback check for the fakes; returns `fake`."""
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": f"{SECRET[0]}:{SECRET[1]}",
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    settings.TWILIO_AUTH_TOKEN = fake.twilio_token
    return fake


def mailgun_event(n: Notification, event: str, *, token: str | None = None, key: str = SIGNING_KEY, **extra) -> dict:
    timestamp, token = str(int(time.time())), token or uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "timestamp": time.time(),
            "recipient": n.to_address,
            "message": {"headers": {"message-id": n.provider_message_id.strip("<>")}},
            "user-variables": {"notification_id": str(n.pk)},
            **extra,
        },
    }


def post_tracking(client, payload, auth=SECRET):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return client.post(TRACKING, json.dumps(payload), content_type="application/json", **headers)
