"""The application server's VAPID identity (RFC 8292): the key a browser subscribes with and every Web Push
request proves with a signed JWT (audience: the push service's origin)."""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode

JWT_LIFETIME = 12 * 3600  # RFC 8292 allows 24 h; push services reject a token whose expiry is further out
JWT_RENEW_BEFORE = 3600  # a cached token is replaced an hour before it expires

_headers: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
_lock = threading.Lock()


def generate_pair() -> tuple[str, str]:
    """A new key pair: (private key, raw base64url as VAPID_PRIVATE_KEY takes it; public key, base64url)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64urlencode(key.private_numbers().private_value.to_bytes(32, "big"))
    return private, _public_b64(key.public_key())


def _public_b64(public: ec.EllipticCurvePublicKey) -> str:
    return b64urlencode(public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@lru_cache(maxsize=4)
def _vapid(private_key: str) -> Vapid02:
    try:
        if private_key.lstrip().startswith("-----BEGIN"):
            return Vapid02.from_pem(private_key.encode())
        return Vapid02.from_string(private_key)
    except Exception as exc:  # py_vapid raises its own, cryptography's or binascii's errors for a bad key
        raise ImproperlyConfigured(f"VAPID_PRIVATE_KEY is not a P-256 private key: {exc}") from exc


def configured() -> bool:
    return bool(settings.VAPID_PRIVATE_KEY)


def public_key() -> str:
    """The application server key a browser's `pushManager.subscribe()` needs (base64url), or "" when none."""
    return _public_b64(_vapid(settings.VAPID_PRIVATE_KEY).public_key) if configured() else ""


def authorization(endpoint_origin: str) -> dict[str, str]:
    """The `Authorization: vapid t=..., k=...` header for one push service, signed once and reused until an hour
    before it expires (a signature per message would be wasted work)."""
    now = time.time()
    key = (settings.VAPID_PRIVATE_KEY, settings.VAPID_SUBJECT, endpoint_origin)
    with _lock:
        cached = _headers.get(key)
        if cached and cached[0] - JWT_RENEW_BEFORE > now:
            return cached[1]
    expires = int(now) + JWT_LIFETIME
    claims = {"aud": endpoint_origin, "exp": expires, "sub": settings.VAPID_SUBJECT}
    headers = _vapid(settings.VAPID_PRIVATE_KEY).sign(claims)
    with _lock:
        _headers[key] = (expires, headers)
    return headers
