"""Firebase Cloud Messaging, HTTP v1 (`POST /v1/projects/{project}/messages:send`), through google-auth: an OAuth2
access token from the service account key, shared by the process's sender threads and reused until it nears
expiry (google-auth refreshes it then, and once on a 401). FCM_API_BASE_URL and FCM_TOKEN_URL point the same
code at local fakes in tests."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from commhub.net import retry_after_seconds
from notifications.channels.http import tune_session

from .models import DeviceToken
from .outcome import GONE, PERMANENT, SENT, TRANSIENT, Outcome

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM's error codes (google.firebase.fcm.v1.FcmError) and Google API statuses, by what they mean for the token.
# https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
TOKEN_GONE = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH", "NOT_FOUND"})
# INVALID_ARGUMENT also answers a malformed message: the token is forgotten only when FCM's message names it, so
# a payload bug cannot wipe every device of every person.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED", "UNSPECIFIED_ERROR"})

_credentials: dict[tuple[str, str], tuple[service_account.Credentials, str]] = {}
_lock = threading.Lock()


def configured() -> bool:
    return bool(settings.FCM_CREDENTIALS_FILE)


def credentials() -> tuple[service_account.Credentials, str]:
    """This process's credentials and project (one access token for every sender thread)."""
    key = (settings.FCM_CREDENTIALS_FILE, settings.FCM_TOKEN_URL)
    with _lock:
        if key not in _credentials:
            try:
                info = json.loads(Path(settings.FCM_CREDENTIALS_FILE).read_text())
                creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
            except (OSError, ValueError, KeyError) as exc:
                raise ImproperlyConfigured(f"FCM_CREDENTIALS_FILE is not a service account key: {exc}") from exc
            if settings.FCM_TOKEN_URL:
                creds = creds.with_token_uri(settings.FCM_TOKEN_URL)
            _credentials[key] = (creds, settings.FCM_PROJECT_ID or info.get("project_id", ""))
        return _credentials[key]


def message_body(device: DeviceToken, *, title: str, body: str, data: dict[str, str], urgent: bool) -> dict[str, Any]:
    ttl = f"{settings.PUSH_TTL_SECONDS}s"
    return {
        "message": {
            "token": device.token,
            "notification": {"title": title, "body": body},
            "data": data,  # FCM data values are strings
            "android": {"priority": "high" if urgent else "normal", "ttl": ttl},
            "apns": {"headers": {"apns-priority": "10" if urgent else "5"}},
        }
    }


class FcmSender:
    def __init__(self) -> None:
        creds, self.project = credentials()
        self.session = AuthorizedSession(creds)
        tune_session(self.session)
        self.url = f"{settings.FCM_API_BASE_URL}/v1/projects/{self.project}/messages:send"

    def close(self) -> None:
        self.session.close()

    def send(self, device: DeviceToken, message: dict[str, Any]) -> Outcome:
        try:
            response = self.session.post(self.url, json=message, timeout=settings.PUSH_TIMEOUT_SECONDS)
        except GoogleAuthError as exc:  # the token endpoint failed or refused the key
            return Outcome(TRANSIENT, f"FCM access token: {exc}", code="auth")
        except requests.exceptions.ReadTimeout as exc:
            return Outcome(TRANSIENT, f"FCM did not answer: {exc}", code="ReadTimeout", ambiguous=True)
        except requests.RequestException as exc:
            return Outcome(TRANSIENT, f"FCM unreachable: {exc}", code=type(exc).__name__)
        return _outcome(response)


def _error_code(response: requests.Response) -> tuple[str, str]:
    """FCM's errorCode from the error's details when it gives one, else the Google API status."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", response.text[:200]
    for detail in error.get("details") or []:
        if str(detail.get("@type", "")).endswith("google.firebase.fcm.v1.FcmError") and detail.get("errorCode"):
            return detail["errorCode"], error.get("message", "")
    return str(error.get("status", "")), error.get("message", "")


def _outcome(response: requests.Response) -> Outcome:
    if response.status_code == 200:
        try:
            return Outcome(SENT, message_id=str(response.json().get("name", "")))
        except ValueError:
            return Outcome(SENT)
    code, message = _error_code(response)
    said = f"FCM {response.status_code} {code}: {message}".strip()
    if code in TOKEN_GONE or (code == "INVALID_ARGUMENT" and "token" in message.lower()):
        return Outcome(GONE, said, code=code)
    if code in TRANSIENT_CODES or response.status_code == 429 or response.status_code >= 500:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return Outcome(TRANSIENT, said, code=code or str(response.status_code), retry_after=wait)
    return Outcome(PERMANENT, said, code=code or str(response.status_code))
