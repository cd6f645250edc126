"""The one way commhub POSTs to a URL someone gave it.

Server-side request forgery guard: the URL's host is resolved and every address it resolves to must be public
(not loopback, private, link-local, carrier-grade NAT, multicast, reserved or a cloud metadata address, IPv4-mapped
or not), unless the host or its range is listed in WEBHOOK_ALLOWED_HOSTS; only https, except for listed hosts.
The request then goes to the address that was checked (the connection is pinned to it, with the URL's host name
for TLS and the Host header), so a DNS answer that changes between the check and the call (rebinding) cannot
redirect it. Redirects are refused unless WEBHOOK_FOLLOW_REDIRECTS allows some, each hop checked again.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

from commhub.net import retry_after_seconds

MAX_ANSWER_BYTES = 4096  # what is kept of an answer (the admin shows it): a receiver cannot fill our memory
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """A URL commhub will not call: the message says why, for the person who registered it."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query
    address: str  # the checked address the connection goes to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    retry_after: float | None
    location: str = ""


def _allowed(host: str, address: Address | None) -> bool:
    for entry in settings.WEBHOOK_ALLOWED_HOSTS:
        entry = entry.strip().lower()
        if entry == host.lower():
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue  # a host name entry
    return False


def _why_not_public(address: Address) -> str:
    real = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
    for test, what in (
        ("is_loopback", "a loopback"),
        ("is_unspecified", "an unspecified"),
        ("is_link_local", "a link-local (cloud metadata)"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(real, test):
            return what
    return "" if real.is_global else "a non-public"


def check_url(url: str) -> Target:
    """The address to call for `url`, or UnsafeUrl saying why commhub will not call it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrl("Give an http(s) URL with a host.")
    if parts.username or parts.password:
        raise UnsafeUrl("A URL with a user name or password is not accepted: the signature authenticates commhub.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError:
        raise UnsafeUrl("The URL's port is not a number between 0 and 65535.") from None
    except OSError as exc:
        raise UnsafeUrl(f"{host} does not resolve ({exc.strerror or exc}).") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    for address in addresses:
        why = _why_not_public(address)
        if why and not _allowed(host, address):
            raise UnsafeUrl(f"{host} resolves to {address}, {why} address: commhub does not call those.")
    if parts.scheme == "http" and not _allowed(host, addresses[0]):
        raise UnsafeUrl("Use https (plain http only for hosts listed in WEBHOOK_ALLOWED_HOSTS).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, str(addresses[0]))


_local = threading.local()


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """This thread's keep-alive pool to the checked address (TLS checks the URL's host name, not the address)."""
    pools: dict[Target, urllib3.HTTPConnectionPool] = getattr(_local, "pools", None) or {}
    _local.pools = pools
    key = Target(target.scheme, target.host, target.port, "", target.address)
    if key not in pools:
        if len(pools) > 64:
            for old in pools.values():
                old.close()
            pools.clear()
        if target.scheme == "https":
            pools[key] = urllib3.HTTPSConnectionPool(
                target.address,
                target.port,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pools[key] = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=1)
    return pools[key]


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` (checked first, and every redirect hop it may follow). Raises UnsafeUrl, or
    urllib3's errors for the network (the caller decides what is worth a retry)."""
    hops = settings.WEBHOOK_FOLLOW_REDIRECTS
    while True:
        target = check_url(url)
        response = _pool(target).urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(
                connect=min(5.0, settings.WEBHOOK_TIMEOUT_SECONDS), read=settings.WEBHOOK_TIMEOUT_SECONDS
            ),
            preload_content=False,
        )
        try:
            text = response.read(MAX_ANSWER_BYTES, decode_content=True).decode("utf-8", "replace")
        finally:
            left = response.length_remaining
            if left is not None and left <= 65536:  # the rest of a short answer: read, keep the connection
                response.drain_conn()
                response.release_conn()
            else:  # a long or unbounded answer is not read to its end: drop the connection instead
                response.close()
        location = response.headers.get("Location", "")
        answer = Answer(response.status, text, retry_after_seconds(response.headers.get("Retry-After")), location)
        if not (300 <= response.status < 400 and location and hops > 0):
            return answer
        hops -= 1
        url = urljoin(url, location)
