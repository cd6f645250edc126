"""A local push service speaking Web Push (RFC 8030/8291/8292) and Firebase Cloud Messaging HTTP v1.

Web Push: the test makes a browser's keys (`browser()`), registers the subscription with commhub, and the fake
checks every push as a real push service does (the VAPID JWT's signature, audience and expiry, the key it was
signed with) and then decrypts the aes128gcm payload with the browser's private key, as the browser would.
FCM: an OAuth2 token endpoint that verifies the service account's signed assertion (RS256) and issues access
tokens with a chosen lifetime, and `messages:send` that checks the bearer token and the message's shape and
answers with FCM's error format for scripted tokens. Tests read back what was received.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_SEND = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
PROJECT = "commhub-fake"
# what FCM says when the token itself is the problem
FCM_MESSAGES = {
    "UNREGISTERED": "Requested entity was not found.",
    "INVALID_ARGUMENT": "The registration token is not a valid FCM registration token",
}
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google's token endpoint requires, wherever it is


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of a subscription: the endpoint and the keys only it holds."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def subscription_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives the page."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }


@dataclass
class Push:
    endpoint: str
    status: int
    claims: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why the fake refused it (bad JWT, undecryptable body)


@dataclass
class FcmSend:
    token: str
    status: int
    message: dict[str, Any]
    access_token: str


class FakePushService:
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.pushes: list[Push] = []
        self.fcm_sends: list[FcmSend] = []
        self.token_requests: list[dict[str, Any]] = []
        self.answers: dict[str, list[int]] = {}  # endpoint path or FCM token -> statuses to answer, in turn
        self.fcm_errors: dict[str, str] = {}  # FCM token -> error code it always gets (UNREGISTERED, ...)
        self.headers_for: dict[str, dict[str, str]] = {}  # endpoint path -> extra headers on its error answers
        self.vapid_public_key = ""  # the key subscriptions were made with: a push signed with another is refused
        self.token_lifetime = 3600
        self._tokens: dict[str, float] = {}  # access token -> expiry
        self._lock = threading.Lock()
        self.service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"fake": self}))
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def netloc(self) -> str:
        return self.base_url.removeprefix("http://")

    def start(self) -> FakePushService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def browser(self) -> Browser:
        """A new browser subscription on this push service (its endpoint and keys)."""
        endpoint = f"{self.base_url}/wp/{uuid.uuid4().hex}"
        made = Browser(endpoint, ec.generate_private_key(ec.SECP256R1()), uuid.uuid4().bytes)
        self.browsers[endpoint] = made
        return made

    def service_account_file(self, directory: Path) -> Path:
        """A service account key file whose token_uri is this fake (as a key from Google's console, locally)."""
        pem = self.service_account_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": f"commhub@{PROJECT}.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{self.base_url}/token",
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(info))
        return path

    def answer(self, key: str, *statuses: int) -> None:
        self.answers.setdefault(key, []).extend(statuses)

    def _next_answer(self, key: str, default: int) -> int:
        with self._lock:
            queued = self.answers.get(key)
            return queued.pop(0) if queued else default

    # --- Web Push ----------------------------------------------------------------------------------
    def receive_push(self, path: str, headers: dict[str, str], body: bytes) -> Push:
        endpoint = f"{self.base_url}{path}"
        push = Push(endpoint=endpoint, status=201, headers=headers)
        browser = self.browsers.get(endpoint)
        if browser is None:
            push.status, push.problem = 404, "no such subscription"
            return push
        try:
            push.claims = self._check_vapid(headers.get("authorization", ""))
            if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
                raise ValueError("Content-Encoding aes128gcm and TTL are required")
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
            push.payload = json.loads(plain)
        except (ValueError, jwt.PyJWTError) as exc:
            push.status, push.problem = (401 if isinstance(exc, jwt.PyJWTError) else 400), str(exc)
            return push
        push.status = self._next_answer(path, 201)
        return push

    def _check_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise jwt.InvalidTokenError(f"Authorization scheme {scheme!r}, not vapid")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        if self.vapid_public_key and parts.get("k") != self.vapid_public_key:
            raise jwt.InvalidTokenError("signed with a key the subscription was not made for")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        claims = jwt.decode(
            parts["t"], key=public, algorithms=["ES256"], audience=self.base_url, options={"require": ["exp", "aud"]}
        )
        if claims["exp"] > time.time() + 24 * 3600:
            raise jwt.InvalidTokenError("exp more than 24 hours ahead (RFC 8292)")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise jwt.InvalidTokenError("sub must be a mailto: or https: URL")
        return claims

    # --- FCM ---------------------------------------------------------------------------------------
    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                key=self.service_account_key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            return 400, {"error": "invalid_scope"}
        token = f"ya29.fake-{uuid.uuid4().hex}"
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self.token_requests.append(claims)
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    def receive_fcm(self, project: str, authorization: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        access = authorization.removeprefix("Bearer ")
        if self._tokens.get(access, 0) < time.time():
            return 401, _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        message = body.get("message") or {}
        token = message.get("token", "")
        if project != PROJECT or not token or not (message.get("notification") or {}).get("title"):
            return 400, _google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        status, code = 200, self.fcm_errors.get(token, "")
        if code:
            status = {"UNREGISTERED": 404, "INVALID_ARGUMENT": 400, "UNAVAILABLE": 503, "INTERNAL": 500}.get(code, 400)
        else:
            status = self._next_answer(token, 200)
            code = {429: "QUOTA_EXCEEDED", 503: "UNAVAILABLE", 500: "INTERNAL"}.get(status, "")
        with self._lock:
            self.fcm_sends.append(FcmSend(token, status, message, access))
        if status != 200:
            grpc = {404: "NOT_FOUND", 400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}.get(status, code)
            said = FCM_MESSAGES.get(code, f"fake: {code}") if token in self.fcm_errors else f"fake: {code}"
            return status, _google_error(status, grpc, said, fcm_code=code)
        return 200, {"name": f"projects/{project}/messages/{uuid.uuid4().hex}"}


def _google_error(status: int, grpc: str, message: str, *, fcm_code: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc}
    if fcm_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: FakePushService

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path.startswith("/wp/"):
            push = self.fake.receive_push(path, {k.lower(): v for k, v in self.headers.items()}, raw)
            with self.fake._lock:
                self.fake.pushes.append(push)
            if push.status == 201:
                extra = {"Location": f"{self.fake.base_url}/m/{uuid.uuid4().hex}"}
            else:
                extra = self.fake.headers_for.get(path, {})
            self._reply(push.status, {"error": push.problem} if push.problem else None, extra)
        elif path == "/token":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            self._reply(*self.fake.issue_token(form))
        elif (m := _SEND.match(path)) is not None:
            self._reply(
                *self.fake.receive_fcm(m["project"], self.headers.get("Authorization", ""), json.loads(raw or b"{}"))
            )
        else:
            self._reply(404, {"error": "unknown path"})
