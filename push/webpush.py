"""Web Push to browsers (RFC 8030) through pywebpush: the payload encrypted for the subscription's keys
(aes128gcm, RFC 8291), a VAPID JWT for the push service's origin (RFC 8292). One keep-alive session per thread."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

import requests
from django.conf import settings

from commhub.net import retry_after_seconds
from notifications.channels.http import tune_session

from . import vapid
from .models import PushSubscription
from .outcome import GONE, PERMANENT, SENT, TRANSIENT, Outcome


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class WebPushSender:
    def __init__(self) -> None:
        # pywebpush imports aiohttp (13 MB more per process): loaded by a process's first browser push, not by
        # every web and worker process that registers the push channel
        import pywebpush

        self.pusher, self.refused = pywebpush.WebPusher, pywebpush.WebPushException
        self.session = requests.Session()
        tune_session(self.session)

    def close(self) -> None:
        self.session.close()

    def send(self, subscription: PushSubscription, data: bytes, *, urgent: bool) -> Outcome:
        info = {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
        headers = {**vapid.authorization(_origin(subscription.endpoint)), "Urgency": "high" if urgent else "normal"}
        try:
            response = self.pusher(info, requests_session=self.session).send(
                data,
                headers,
                ttl=settings.PUSH_TTL_SECONDS,
                content_encoding="aes128gcm",
                timeout=settings.PUSH_TIMEOUT_SECONDS,
            )
        except self.refused as exc:  # the subscription's keys cannot be used
            return Outcome(GONE, f"unusable subscription keys: {exc.message}", code="bad_keys")
        except requests.exceptions.ReadTimeout as exc:
            return Outcome(TRANSIENT, f"push service did not answer: {exc}", code="ReadTimeout", ambiguous=True)
        except requests.RequestException as exc:
            return Outcome(TRANSIENT, f"push service unreachable: {exc}", code=type(exc).__name__)
        return _outcome(cast(requests.Response, response))  # a str only when asked for a curl command


def _outcome(response: requests.Response) -> Outcome:
    status = response.status_code
    text = response.text[:200].strip()
    said = f"push service answered {status}" + (f": {text}" if text else "")
    if status in (200, 201, 202):
        return Outcome(SENT, message_id=response.headers.get("Location", ""))
    if status in (404, 410):  # RFC 8030 §7.3: the subscription expired or was removed
        return Outcome(GONE, said, code=str(status))
    if status == 429 or status >= 500:
        return Outcome(
            TRANSIENT, said, code=str(status), retry_after=retry_after_seconds(response.headers.get("Retry-After"))
        )
    return Outcome(PERMANENT, said, code=str(status))  # 400, 401/403 (our VAPID key), 413 (too large)
