"""The inputs the security review found answering 500, each as a plain case: NUL characters and unpaired
surrogates in ids, attributes, data, inline recipients and the end user's claim; JSON nested too deeply on every
JSON endpoint; analytics dates at the ends of the calendar. Each answers 4xx naming what is wrong, and nothing
that was stored breaks a later read or export."""

from __future__ import annotations

import json
from urllib.parse import quote as url_quote

import pytest
from django.contrib.auth import get_user_model

from commhub.enduser import mint_user_token
from notifications.models import Notification
from preferences.models import Recipient
from tests.conftest import _client_for

pytestmark = pytest.mark.django_db

NUL, SURROGATE = "a\x00b", "a\ud800b"
DEEP = json.loads("[" * 40 + "]" * 40)


@pytest.fixture
def root(db):
    return _client_for(get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20))


def body(value) -> str:
    """JSON text as a client sends it: a lone surrogate as its \\u escape (json.dumps writes it so)."""
    return json.dumps(value)


def assert_refused(response, *, field: str | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if field:
        assert field in response.content.decode(), response.content[:300]


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_bad_text_in_ids_is_refused_and_reads_stay_whole(root, catalogue, recipient, bad):
    def quote(text: str) -> str:  # as a client sends it: the UTF-8 bytes (a lone surrogate as its 3 bytes)
        return url_quote(text.encode("utf-8", "surrogatepass"))

    paths = [
        ("get", f"/api/v1/recipients/{quote(bad)}/"),
        ("put", f"/api/v1/recipients/{quote(bad)}/"),
        ("get", f"/api/v1/recipients/{quote(bad)}/export/"),
        ("get", f"/api/v1/recipients/{quote(bad)}/consent/"),
        ("post", f"/api/v1/recipients/{quote(bad)}/erase/"),
        ("get", f"/api/communication/status/{quote(bad)}"),
        ("post", f"/api/communication/cancel/{quote(bad)}"),
        ("get", f"/api/v1/types/{quote(bad)}/"),
        ("get", f"/api/v1/notifications/?recipient={quote(bad)}"),
        ("get", f"/api/v1/recipients/?email={quote(bad)}"),
    ]
    for method, path in paths:
        if method == "get":
            response = root.get(path)
        else:
            response = getattr(root, method)(path, "{}", content_type="application/json")
        assert response.status_code < 500, (method, path, response.status_code, response.content[:200])
    assert list(Recipient.objects.values_list("external_id", flat=True)) == ["123"]


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_bad_text_in_bodies_is_a_400_naming_the_field(root, catalogue, recipient, bad):
    before = Notification.objects.count()
    cases = [
        ("put", "/api/v1/recipients/r-1/", {"email": "r@example.com", "attributes": {"name": bad}}, "attributes"),
        ("put", "/api/v1/recipients/r-2/", {"email": "r@example.com", "attributes": {bad: 1}}, "attributes"),
        (
            "post",
            "/api/v1/notifications/",
            {"recipient": "123", "type": "financial_alert", "data": {"amount": bad}},
            "data",
        ),
        ("post", "/api/v1/notifications/", {"recipient": bad, "type": "financial_alert", "data": {}}, "recipient"),
        (
            "post",
            "/api/v1/notifications/",
            {"recipient": {"external_id": bad, "email": "x@example.com"}, "type": "financial_alert"},
            "recipient",
        ),
        ("post", "/api/communication/send", {"user_id": bad, "trigger_type": "financial_alert", "data": {}}, "user_id"),
    ]
    for method, path, payload, field in cases:
        response = getattr(root, method)(path, body(payload), content_type="application/json")
        assert_refused(response, field=field or None)
    # a batch takes what it can and names, per item, what it could not
    item = {"recipient": "123", "type": "financial_alert", "data": {"x": bad}}
    batch = root.post("/api/v1/notifications/batch/", body({"notifications": [item]}), content_type="application/json")
    if batch.status_code == 200:
        assert batch.json()["results"][0]["errors"]["data"]
    else:
        assert_refused(batch)
    assert Notification.objects.count() == before
    assert not Recipient.objects.filter(external_id__in=["r-1", "r-2"]).exists()


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_a_bad_end_user_claim_is_a_401_not_a_500(catalogue, settings, bad):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "review-end-user-key-" + "k" * 40}
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token(bad)}")
    for path in ("/api/v1/me/", "/api/v1/me/export/", "/api/v1/me/preferences/", "/api/v1/me/notifications/"):
        response = client.get(path)
        assert response.status_code in (401, 403), (path, response.status_code, response.content[:200])


def json_endpoints() -> list[tuple[str, str]]:
    return [
        ("post", "/api/v1/notifications/"),
        ("post", "/api/v1/notifications/batch/"),
        ("put", "/api/v1/recipients/deep/"),
        ("post", "/api/v1/preferences/"),
        ("post", "/api/v1/consents/"),
        ("post", "/api/v1/suppressions/"),
        ("post", "/api/v1/templates/"),
        ("post", "/api/v1/template-versions/"),
        ("post", "/api/communication/send"),
        ("post", "/api/communication/batch"),
        ("post", "/api/token/"),
        ("post", "/api/token/refresh/"),
    ]


def test_deep_json_is_a_400_on_every_json_endpoint(root, catalogue, recipient, settings):
    for method, path in json_endpoints():
        for payload in (DEEP, {"data": DEEP, "attributes": DEEP, "variables": DEEP}):
            assert_refused(getattr(root, method)(path, body(payload), content_type="application/json"))
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "review-end-user-key-" + "k" * 40}
    from rest_framework.test import APIClient

    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('123')}")
    for method, path in (
        ("patch", "/api/v1/me/"),
        ("post", "/api/v1/me/preferences/"),
        ("post", "/api/v1/me/consents/"),
    ):
        assert_refused(
            getattr(me, method)(path, body({"timezone": DEEP, "type": DEEP}), content_type="application/json")
        )


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "0001-01-02", "9999-12-30"])
def test_analytics_dates_at_the_ends_of_the_calendar(root, day):
    for path in ("/api/v1/analytics/daily", "/api/v1/analytics/costs", "/api/v1/analytics/queues"):
        for params in (f"since={day}", f"until={day}", f"since={day}&until={day}", f"from={day}&to={day}"):
            response = root.get(f"{path}?{params}")
            assert response.status_code < 500, (path, params, response.status_code, response.content[:200])
    page = root.get(f"/admin/analytics/dashboard/?since={day}&until={day}")
    assert page.status_code < 500
