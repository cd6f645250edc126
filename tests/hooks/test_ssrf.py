"""The SSRF guard: URLs that reach loopback, private, link-local (cloud metadata) or other non-public addresses are
refused at registration (a field-level 400) and at send (the notification fails with the reason), checked after
DNS resolution and on every redirect; WEBHOOK_ALLOWED_HOSTS lets a listed host or range through."""

from __future__ import annotations

import socket

import pytest

from hooks.models import WebhookEndpoint
from hooks.outbound import UnsafeUrl, check_url, post
from notifications.constants import Status
from notifications.delivery import queue_drain
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def internal_dns(monkeypatch):
    """A name that public DNS would answer with a private address (the resolver is what leaves the process)."""

    def resolve(host, *args, **kwargs):
        if host == "hooks.partner.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
        if host == "public.partner.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
        return REAL_GETADDRINFO(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.8/hook", "private"),
        ("https://192.168.1.20:8443/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[fd00:ec2::254]/hook", "private"),
        ("https://100.64.0.7/hook", "non-public"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://localhost:9000/hook", "loopback"),
        ("https://hooks.partner.example/in", "private"),
        ("ftp://public.partner.example/in", "http(s)"),
        ("https://user:pw@public.partner.example/in", "password"),
        ("http://public.partner.example/in", "https"),
        ("https://no-such-host.invalid/in", "does not resolve"),
    ],
)
def test_urls_reaching_inside_are_refused_with_the_reason(internal_dns, url, why):
    with pytest.raises(UnsafeUrl, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_url(url)


def test_a_public_https_url_passes_and_is_pinned_to_the_address_that_was_checked(internal_dns):
    target = check_url("https://public.partner.example/in?x=1")
    assert (target.address, target.host, target.port, target.path) == (
        "93.184.215.14",
        "public.partner.example",
        443,
        "/in?x=1",
    )


def test_the_allowlist_lets_a_listed_host_or_range_through(internal_dns, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["10.20.0.0/16"]
    assert check_url("https://hooks.partner.example/in").address == "10.20.30.40"
    assert check_url("http://hooks.partner.example/in").scheme == "http"  # a listed host may use plain http
    with pytest.raises(UnsafeUrl):
        check_url("https://10.21.0.1/in")


def test_registration_refuses_an_inside_url_with_a_field_error(api, internal_dns):
    for url in ("https://hooks.partner.example/in", "http://169.254.169.254/latest/", "https://[::1]/x"):
        answer = api.post("/api/v1/webhook-endpoints/", {"recipient": "r1", "url": url}, format="json")
        assert answer.status_code == 400 and "url" in str(answer.json()), answer.json()
    assert not WebhookEndpoint.objects.exists()


def test_a_redirect_to_an_inside_address_is_not_followed_and_is_refused_when_following(receiver, settings):
    receiver.answer("/moved", 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, times=2)
    answer = post(f"{receiver.base_url}/moved", body=b"{}", headers={})
    assert answer.status == 302  # redirects off (the default): the caller sees a 3xx, nothing else is called
    settings.WEBHOOK_FOLLOW_REDIRECTS = 3
    with pytest.raises(UnsafeUrl, match=r"169\.254\.169\.254, a link-local"):
        post(f"{receiver.base_url}/moved", body=b"{}", headers={})
    assert [r.path for r in receiver.received] == ["/moved", "/moved"]


def test_at_send_an_endpoint_that_now_resolves_inside_fails_the_message_with_the_reason(
    partner_update, receiver, api, settings
):
    RecipientFactory(external_id="acme", email="")
    made = api.post(
        "/api/v1/webhook-endpoints/", {"recipient": "acme", "url": f"{receiver.base_url}/in"}, format="json"
    )
    assert made.status_code == 201, made.content
    settings.WEBHOOK_ALLOWED_HOSTS = []  # e.g. the name now points inside: checked again at every send
    n = submit(recipient="acme", type="partner_update", data={"event": "invoice.paid"})
    queue_drain(queue=n.queue, threads=1)
    n.refresh_from_db()
    assert (
        n.status == Status.FAILED and "refused to call it: 127.0.0.1 resolves to 127.0.0.1, a loopback" in n.last_error
    )
    assert receiver.received == []
