"""Shared HTTP tuning for provider sessions (anymail's and Twilio's, both `requests`), and the lean session anymail
sends through when nothing asks for what only `requests` does.

`LeanSession` answers what anymail asks of a `requests.Session` (`request(...)` with method, url, params, data,
files, headers, auth, timeout; `close()`; `headers`) straight on a urllib3 pool, and gives back the part of a
`requests.Response` anymail reads (status_code, reason, headers, content, text, json()). Network errors are
raised as the `requests` exceptions anymail catches and wraps, so error handling and the "it may have been sent"
read timeout stay what they were. Measured on the one-message-per-call path: `requests`' session layer (merging
settings and hooks, preparing the request, building the response) was ~15 % of the worker's CPU per email. Any
call using something the lean path does not implement (other auth objects, file objects, proxies, streaming,
a CA bundle of its own) goes through a real `requests.Session`, as before.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import certifi
import requests
import urllib3
from urllib3.fields import RequestField, format_multipart_header_param
from urllib3.filepost import choose_boundary
from urllib3.util import parse_url

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_FORM = "application/x-www-form-urlencoded"


def environment_has_proxies() -> bool:
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


def tune_session(session: requests.Session | None) -> None:
    """Stop `requests` from re-reading the whole environment on every call.

    With `trust_env` on, each request scans os.environ for proxy settings and .netrc for credentials:
    about a millisecond of CPU per provider call. When no proxy variable is set there is nothing to
    find, so switch it off; when one is set, keep the standard behaviour (NO_PROXY included).
    """
    if session is not None and not environment_has_proxies():
        session.trust_env = False


class LeanResponse:
    """The part of `requests.Response` anymail reads."""

    def __init__(self, answer: urllib3.BaseHTTPResponse, url: str) -> None:
        self.status_code = answer.status
        self.reason = answer.reason or ""
        self.headers = answer.headers
        self.content: bytes = answer.data
        self.url = url

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        charset = self.headers.get("Content-Type", "").partition("charset=")[2].split(";")[0].strip() or "utf-8"
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _fields(data: Any) -> list[tuple[str, Any]]:
    """Form fields from what `requests` takes as `data`: a mapping (a list value is a repeated field) or pairs;
    None values are left out, as `requests` leaves them."""
    pairs = data.items() if isinstance(data, Mapping) else data
    fields = []
    for name, value in pairs:
        for one in value if isinstance(value, list | tuple) else [value]:
            if one is not None:
                fields.append((name, one))
    return fields


@lru_cache(maxsize=512)
def _part_head(name: str) -> bytes:
    """The headers of a plain form field's part, as urllib3 renders them (its own escaping of the name)."""
    return f"Content-Disposition: form-data; {format_multipart_header_param('name', name)}\r\n\r\n".encode()


def _multipart(fields: list[tuple[str, Any]], files: Any, boundary: str | None = None) -> tuple[bytes, str]:
    """What `urllib3.encode_multipart_formdata` gives for these fields and files, byte for byte (a test compares),
    without building a RequestField per plain field: for an email of a dozen fields that was half the encoding."""
    boundary = boundary or choose_boundary()
    start = f"--{boundary}\r\n".encode()
    chunks: list[bytes] = []
    for name, value in fields:
        text = value if isinstance(value, bytes | str) else str(value)
        chunks += (start, _part_head(name), text.encode() if isinstance(text, str) else text, b"\r\n")
    for name, spec in files:  # (filename, content[, content type]) or the content alone, as requests takes them
        filename, content, content_type = (*spec, None)[:3] if isinstance(spec, tuple) else (name, spec, None)
        if filename is None and content_type is None:  # a form field sent as a part: a plain field's headers
            head = _part_head(name)
        else:
            field = RequestField(name=name, data=content, filename=filename)
            field.make_multipart(content_type=content_type)
            head = field.render_headers().encode()
        chunks += (start, head, content.encode() if isinstance(content, str) else content, b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _encoded(data: Any, files: Any) -> tuple[bytes | None, str | None]:
    """The body and its content type, as `requests` would build them."""
    if files:
        return _multipart(_fields(data or {}), files)
    if data is None:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode(), None
    return urlencode(_fields(data)).encode(), _FORM


def _simple(auth: Any, files: Any, data: Any, extra: Mapping[str, Any]) -> bool:
    """Whether the lean path implements this call."""
    if extra.keys() - {"timeout", "json"} or extra.get("json") is not None:
        return False
    if auth is not None and not (isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(a, str) for a in auth)):
        return False
    for _, spec in files or []:
        content = spec[1] if isinstance(spec, tuple) else spec
        if not isinstance(content, bytes | str) or (isinstance(spec, tuple) and len(spec) > 3):
            return False
    return data is None or isinstance(data, bytes | str | Mapping | list | tuple)


def _timeout(timeout: Any) -> urllib3.Timeout:
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(connect=timeout, read=timeout)


class LeanSession:
    """What anymail asks of a `requests.Session`, on urllib3 connection pools (keep-alive per host)."""

    _ROUTES = 64  # distinct URLs remembered (an ESP uses a handful)

    def __init__(self, headers: Mapping[str, str], *, maxsize: int = 4) -> None:
        self.headers = dict(headers)
        self._maxsize = maxsize
        # one pool per scheme, host and port; each URL's pool and path worked out once (a PoolManager parses
        # the URL twice and looks the pool up on every call)
        self._pools: dict[tuple[str, str, int | None], urllib3.HTTPConnectionPool] = {}
        self._routes: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}
        self._fallback: requests.Session | None = None

    def _route(self, url: str) -> tuple[urllib3.HTTPConnectionPool, str]:
        route = self._routes.get(url)
        if route is None:
            parsed = parse_url(url)
            key = (parsed.scheme or "http", parsed.host or "", parsed.port)
            pool = self._pools.get(key)
            if pool is None:
                tls = {"ca_certs": certifi.where(), "cert_reqs": "CERT_REQUIRED"} if key[0] == "https" else {}
                pool = self._pools[key] = urllib3.connection_from_url(url, maxsize=self._maxsize, retries=False, **tls)
            if len(self._routes) >= self._ROUTES:
                self._routes.clear()
            route = self._routes[url] = (pool, parsed.request_uri)
        return route

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Any = None,
        auth: Any = None,
        **extra: Any,
    ) -> Any:
        if not _simple(auth, files, data, extra):
            return self._requests().request(
                method, url, params=params, data=data, headers=headers, files=files, auth=auth, **extra
            )
        if params:
            url += ("&" if "?" in url else "?") + urlencode(_fields(params))
        body, content_type = _encoded(data, files)
        sent = {k: v for k, v in {**self.headers, **(headers or {})}.items() if v is not None}  # as requests
        if content_type and not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = content_type
        if auth is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        try:
            pool, path = self._route(url)
            answer = pool.urlopen(
                method,
                path,
                body=body,
                headers=sent,
                timeout=_timeout(extra.get("timeout")),
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
            )
        except urllib3.exceptions.ReadTimeoutError as exc:  # the request went out: the ESP may have it
            raise requests.exceptions.ReadTimeout(str(exc)) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.exceptions.ConnectTimeout(str(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from exc
        return LeanResponse(answer, url)

    def _requests(self) -> requests.Session:
        if self._fallback is None:
            self._fallback = requests.Session()
            self._fallback.headers.update(self.headers)
            tune_session(self._fallback)
        return self._fallback

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._routes.clear()
        if self._fallback is not None:
            self._fallback.close()
            self._fallback = None


def lean_session_for(session: requests.Session | None) -> LeanSession | None:
    """A lean session standing in for `session` (anymail's, just created), or None where `requests` must stay:
    a proxy in the environment, or request hooks (anymail's debug dump)."""
    if session is None or environment_has_proxies() or any(session.hooks.get("response") or []):
        return None
    session.close()  # it has opened no connection yet
    return LeanSession({k: v if isinstance(v, str) else v.decode() for k, v in session.headers.items()})
