"""A local HTTP server speaking the Mailgun, Postmark, SendGrid (v3 mail send) and Twilio REST APIs.

The real client libraries (django-anymail's Mailgun, Postmark and SendGrid backends, the twilio package) talk to it
over loopback exactly as they would talk to the providers: same paths, same auth, same request bodies,
the providers' documented response shapes and error formats. Tests script failures per API
(`fail_next`, `fail_always`) and read back every request the server received.

Standard library only, so it also runs inside worker subprocesses and benchmarks.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MAILGUN = "mailgun"
POSTMARK = "postmark"
SENDGRID = "sendgrid"
TWILIO = "twilio"
TWILIO_VOICE = "twilio_voice"  # the Calls API

_MAILGUN_PATH = re.compile(r"^/v3/(?P<domain>[^/]+)/messages$")
_TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-zA-Z]+)/Messages\.json$")
_TWILIO_CALLS_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-zA-Z]+)/Calls\.json$")


@dataclass
class Recorded:
    api: str
    path: str
    fields: Mapping[str, Any]
    headers: dict[str, str]
    status: int
    at: float
    response: dict[str, Any] = field(default_factory=dict)
    batch: int = 1  # recipients in the API request this delivery came from (the ESPs' batch sending)


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    delay: float = 0.0
    when: dict[str, str] = field(default_factory=dict)  # only requests whose fields match (e.g. one From)

    def applies_to(self, fields: dict[str, Any]) -> bool:
        return all(fields.get(k) == v for k, v in self.when.items())


class FakeProviders:
    """Credentials the fake accepts; tests configure the clients with the same ones."""

    mailgun_api_key = "key-fake-mailgun"
    postmark_token = "fake-postmark-server-token"
    sendgrid_api_key = "SG.fake-sendgrid-api-key"
    twilio_sid = "AC" + "f" * 32
    twilio_token = "fake-twilio-auth-token"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self._failures: dict[str, list[Failure]] = {
            api: [] for api in (MAILGUN, POSTMARK, SENDGRID, TWILIO, TWILIO_VOICE)
        }
        self._always: dict[str, list[Failure]] = {
            api: [] for api in (MAILGUN, POSTMARK, SENDGRID, TWILIO, TWILIO_VOICE)
        }
        self._lock = threading.Lock()
        self.latency = 0.0
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProviders:
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-providers", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            for api in self._failures:
                self._failures[api].clear()
                self._always[api] = []

    # --- scripting ---------------------------------------------------------------------------------
    def fail_next(
        self,
        api: str,
        times: int = 1,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "Internal Server Error",
        delay: float = 0.0,
    ) -> None:
        with self._lock:
            self._failures[api].extend([Failure(status, _error_body(api, status, code, message), delay)] * times)

    def fail_always(
        self,
        api: str,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "Service Unavailable",
        when: dict[str, str] | None = None,
    ) -> None:
        """Fail every request to `api` (only those whose fields match `when`, if given) until `recover`."""
        with self._lock:
            self._always[api].append(Failure(status, _error_body(api, status, code, message), when=when or {}))

    def recover(self, api: str) -> None:
        with self._lock:
            self._always[api] = []
            self._failures[api].clear()

    # --- reading back ------------------------------------------------------------------------------
    def sent(self, api: str | None = None) -> list[Recorded]:
        """Requests the fake accepted (2xx), optionally for one API."""
        with self._lock:
            return [r for r in self.requests if (api is None or r.api == api) and 200 <= r.status < 300]

    def calls(self, api: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if api is None or r.api == api]

    def wait_for(self, api: str, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.sent(api)
            if len(sent) >= count:
                return sent
            time.sleep(0.02)
        return self.sent(api)

    def _next_failure(self, api: str, fields: dict[str, Any]) -> Failure | None:
        with self._lock:
            if self._failures[api]:
                return self._failures[api].pop(0)
            return next((f for f in self._always[api] if f.applies_to(fields)), None)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_PART_NAME = re.compile(rb'name="([^"]*)"')


def _form_data(raw: bytes, content_type: str) -> Iterator[tuple[str, str]]:
    """The (name, value) fields of a multipart/form-data body (RFC 7578), as the ESPs read them: the parts
    between boundary lines, each named by its Content-Disposition; form fields carry no charset (UTF-8).
    Split by hand: the email package's parser costs a batch benchmark more CPU than the sender it measures."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return
    delimiter = b"\r\n--" + match.group(1).encode()
    for part in (b"\r\n" + raw).split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, _, body = part.partition(b"\r\n\r\n")
        name = _PART_NAME.search(head)
        if name is not None:
            yield name.group(1).decode(), body.decode("utf-8", errors="replace")


_MERGE_FIELD = re.compile(r"%recipient\.([^%]+)%")


def _mailgun_batch(fields: dict[str, Any]) -> list[Mapping[str, Any]]:
    """What Mailgun makes of a batch request: for each `to` address its own message, every %recipient.KEY%
    (in the subject, the text, the HTML, h: headers and v: variables) replaced by that recipient's value.
    Filled in when first read, so the fake spends no CPU on it while a benchmark runs (Mailgun does this on
    its own machines)."""
    variables = json.loads(fields["recipient-variables"])
    to = fields.get("to") or []
    addresses = [to] if isinstance(to, str) else list(to)
    return [_PersonalFields(fields, address, variables.get(address, {})) for address in addresses]


class _PersonalFields(Mapping[str, Any]):
    def __init__(self, fields: dict[str, Any], address: str, mine: dict[str, Any]) -> None:
        self._source, self._address, self._mine = fields, address, mine
        self._filled: dict[str, Any] | None = None

    def _fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return _MERGE_FIELD.sub(lambda m: str(self._mine.get(m.group(1), "")), value)
        if isinstance(value, list):
            return [self._fill(v) for v in value]
        return value

    def _fields(self) -> dict[str, Any]:
        if self._filled is None:
            filled = {k: self._fill(v) for k, v in self._source.items() if k not in ("to", "recipient-variables")}
            filled["to"] = self._address
            self._filled = filled
        return self._filled

    def __getitem__(self, key: str) -> Any:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())


def _sendgrid_message(request: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    """One personalization of a SendGrid request as its recipient receives it."""
    substitutions = person.get("substitutions") or {}

    def filled(text: str) -> str:
        for key, value in substitutions.items():
            text = text.replace(key, value or "")
        return text

    content = {part.get("type"): part.get("value", "") for part in request.get("content") or []}
    to = person.get("to") or [{}]
    return {
        "to": to[0].get("email", ""),
        "from": (request.get("from") or {}).get("email", ""),
        "subject": filled(person.get("subject") or request.get("subject") or ""),
        "text": filled(content.get("text/plain", "")),
        "html": filled(content.get("text/html", "")),
        "headers": {**(request.get("headers") or {}), **(person.get("headers") or {})},
        "custom_args": {**(request.get("custom_args") or {}), **(person.get("custom_args") or {})},
    }


def _personalise(body: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Scripted error texts may name the request's recipient ({to}), as Postmark's 406 text does."""
    to = fields.get("To") or fields.get("to") or ""
    return {k: v.replace("{to}", str(to)) if isinstance(v, str) else v for k, v in body.items()}


def _error_body(api: str, status: int, code: int | None, message: str) -> dict[str, Any]:
    if api == TWILIO:
        # Twilio's own codes for its 5xx answers are 20500 / 20503
        return {
            "code": code or {500: 20500, 503: 20503}.get(status, status),
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    if api == POSTMARK:
        return {"ErrorCode": code if code is not None else 500, "Message": message}
    if api == SENDGRID:
        return {"errors": [{"message": message, "field": None, "help": None}]}
    return {"message": message}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    # Headers and body leave in separate writes; without TCP_NODELAY each response waits ~40 ms for the
    # client's delayed ACK (Nagle), which would make the fake, not commhub, the bottleneck.
    disable_nagle_algorithm = True
    fake: FakeProviders

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, payload: dict[str, Any] | list[Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fields(self, raw: bytes) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return json.loads(raw or b"{}")
        if ctype.startswith("multipart/form-data"):
            out: dict[str, Any] = {}
            for name, value in _form_data(raw, ctype):
                out.setdefault(name, []).append(value)
            return {k: v[0] if len(v) == 1 else v for k, v in out.items()}
        parsed = parse_qs(raw.decode(), keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}

    def _basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def do_POST(self) -> None:
        raw = self._body()
        path = self.path.split("?", 1)[0]
        if path == "/reset":
            self.fake.reset()
            self._reply(200, {"count": 0})
            return
        if (m := _MAILGUN_PATH.match(path)) is not None:
            self._serve(
                MAILGUN,
                path,
                raw,
                ok=lambda f: self._mailgun_ok(m["domain"]),
                authorised=self._basic_auth() == ("api", self.fake.mailgun_api_key),
            )
        elif path == "/email":
            self._serve(
                POSTMARK,
                path,
                raw,
                ok=self._postmark_ok,
                authorised=self.headers.get("X-Postmark-Server-Token") == self.fake.postmark_token,
            )
        elif path == "/email/batch":
            self._serve_postmark_batch(path, raw)
        elif path == "/v3/mail/send":
            self._serve_sendgrid(path, raw)
        elif (m := _TWILIO_PATH.match(path)) is not None:
            self._serve(
                TWILIO,
                path,
                raw,
                ok=lambda f: self._twilio_ok(m["sid"], f),
                authorised=self._basic_auth() == (self.fake.twilio_sid, self.fake.twilio_token),
            )
        elif (m := _TWILIO_CALLS_PATH.match(path)) is not None:
            self._serve(
                TWILIO_VOICE,
                path,
                raw,
                ok=lambda f: self._twilio_call_ok(m["sid"], f),
                authorised=self._basic_auth() == (self.fake.twilio_sid, self.fake.twilio_token),
            )
        else:
            self._reply(404, {"message": f"no such endpoint {path}"})

    def _serve(self, api: str, path: str, raw: bytes, *, ok, authorised: bool) -> None:
        fields = self._fields(raw)
        headers = {k: v for k, v in self.headers.items()}
        if not authorised:
            status, payload = 401, _error_body(api, 401, 20003 if api == TWILIO else 10, "Authenticate")
        elif (failure := self.fake._next_failure(api, fields)) is not None:
            if failure.delay:
                time.sleep(failure.delay)
            status, payload = failure.status, _personalise(failure.body, fields)
        else:
            if self.fake.latency:
                time.sleep(self.fake.latency)
            status, payload = ok(fields)
        at = time.time()
        if api == MAILGUN and "recipient-variables" in fields:
            # Mailgun's batch form: one request, one id, a personalised message per `to` address
            deliveries = _mailgun_batch(fields)
            for personal in deliveries:
                self.fake._record(Recorded(api, path, personal, headers, status, at, payload, batch=len(deliveries)))
        else:
            self.fake._record(Recorded(api, path, fields, headers, status, at, payload))
        self._reply(status, payload)

    def _serve_postmark_batch(self, path: str, raw: bytes) -> None:
        """Postmark's batch call: a JSON array of at most 500 messages, each as /email takes it; 200 with one
        result per message, in order, a refused message (a scripted 422, e.g. ErrorCode 406 for its To) failing
        alone. Any other scripted failure (5xx, 429) fails the whole call. Each message is recorded as a delivery
        of its own, `batch` the number of messages in the call."""
        headers = {k: v for k, v in self.headers.items()}
        if self.headers.get("X-Postmark-Server-Token") != self.fake.postmark_token:
            self._reply(401, _error_body(POSTMARK, 401, 10, "Authenticate"))
            return
        messages = json.loads(raw or b"null")
        if not isinstance(messages, list) or not 1 <= len(messages) <= 500:
            self._reply(422, {"ErrorCode": 300, "Message": "A batch holds between 1 and 500 messages."})
            return
        if self.fake.latency:
            time.sleep(self.fake.latency)
        answers: list[tuple[int, dict[str, Any]]] = []
        for fields in messages:
            failure = self.fake._next_failure(POSTMARK, fields)
            if failure is not None and failure.status != 422:
                if failure.delay:
                    time.sleep(failure.delay)
                for one in messages:
                    self.fake._record(Recorded(POSTMARK, path, one, headers, failure.status, time.time(), failure.body))
                self._reply(failure.status, _personalise(failure.body, fields))
                return
            answers.append(self._postmark_ok(fields) if failure is None else (422, _personalise(failure.body, fields)))
        at = time.time()
        for fields, (status, answer) in zip(messages, answers, strict=True):
            self.fake._record(Recorded(POSTMARK, path, fields, headers, status, at, answer, batch=len(messages)))
        self._reply(200, [answer for _, answer in answers])

    def _serve_sendgrid(self, path: str, raw: bytes) -> None:
        """SendGrid's v3 mail send: one request, a message per personalization (at most 1,000), each with its own
        `to`, `substitutions` (plain replacement of each key in the subject and the text and HTML content, as
        SendGrid's legacy substitutions), `custom_args` and `headers` over the request's. 202 with an empty body
        and an X-Message-Id header; errors all-or-nothing. Each personalization is recorded as a delivery of its
        own (`batch`: how many the request held), its fields as the recipient's message: to, from, subject, text,
        html, headers, custom_args."""
        headers = {k: v for k, v in self.headers.items()}
        if self.headers.get("Authorization") != f"Bearer {self.fake.sendgrid_api_key}":
            self._reply(401, _error_body(SENDGRID, 401, None, "The provided authorization grant is invalid."))
            return
        request = json.loads(raw or b"null")
        people = request.get("personalizations") if isinstance(request, dict) else None
        if not isinstance(people, list) or not 1 <= len(people) <= 1000:
            self._reply(400, _error_body(SENDGRID, 400, None, "personalizations: between 1 and 1000 are allowed."))
            return
        deliveries = [_sendgrid_message(request, person) for person in people]
        failure = next((f for d in deliveries if (f := self.fake._next_failure(SENDGRID, d)) is not None), None)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        status, answer = (202, {"x-message-id": uuid.uuid4().hex[:22]}) if failure is None else (failure.status, {})
        at = time.time()
        for delivery in deliveries:
            self.fake._record(Recorded(SENDGRID, path, delivery, headers, status, at, answer, batch=len(people)))
        if failure is not None:
            self._reply(failure.status, failure.body)
            return
        self.send_response(202)
        self.send_header("X-Message-Id", answer["x-message-id"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/count":  # deliveries accepted (per recipient), for benchmarks
            self._reply(200, {"count": len(self.fake.sent())})
        else:
            self._reply(404, {"message": f"no such endpoint {self.path}"})

    def _mailgun_ok(self, domain: str) -> tuple[int, dict[str, Any]]:
        return 200, {"id": f"<{uuid.uuid4().hex}@{domain}>", "message": "Queued. Thank you."}

    def _postmark_ok(self, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {
            "To": fields.get("To", ""),
            "SubmittedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        }

    def _twilio_ok(self, sid: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = fields.get("Body", "")
        message_sid = "SM" + uuid.uuid4().hex
        return 201, {
            "sid": message_sid,
            "account_sid": sid,
            "to": fields.get("To"),
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "body": body,
            "status": "queued",
            "num_segments": str(_carrier_segments(body)),
            "num_media": "0",
            "direction": "outbound-api",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        }

    def _twilio_call_ok(self, sid: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Twilio's Calls resource for a new outbound call (it needs To, From and Url or Twiml)."""
        if not fields.get("To") or not fields.get("From") or not (fields.get("Url") or fields.get("Twiml")):
            return 400, _error_body(TWILIO, 400, 21205, "Url, Twiml or ApplicationSid is required.")
        call_sid = "CA" + uuid.uuid4().hex
        return 201, {
            "sid": call_sid,
            "account_sid": sid,
            "to": fields["To"],
            "from": fields["From"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "uri": f"/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
        }


def _carrier_segments(body: str) -> int:
    """A carrier's count, written independently of commhub's own (ASCII-only GSM shortcut is enough for
    the fake: any non-ASCII text is billed as UCS-2)."""
    if all(ord(ch) < 128 and ch not in "^{}\\[~]|" for ch in body):
        return 1 if len(body) <= 160 else -(-len(body) // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def main() -> None:
    """Run the fake on its own: `python -m tests.fakes.providers --port 8025` (benchmarks, manual tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    fake = FakeProviders(port=args.port).start()
    print(
        f"fake providers on {fake.base_url} (Mailgun /v3, Postmark /email[/batch], SendGrid /v3/mail/send, "
        "Twilio /2010-04-01)",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
