"""The consent ledger is append-only — through the admin (superusers too), the API, the ORM and, on
PostgreSQL, raw SQL — and its exports match it row for row."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from preferences.models import ConsentRecord
from preferences.services import Evidence, consent_record
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(catalogue):
    dana = RecipientFactory(external_id="123")
    entries = [
        consent_record(
            recipient=dana,
            channel="email",
            purpose="marketing",
            action="granted",
            evidence=Evidence(
                source="api", ip_address="203.0.113.7", user_agent="Mozilla/5.0", consent_text="Tips by email, v1"
            ),
            at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        ),
        consent_record(
            recipient=dana,
            channel="email",
            purpose="marketing",
            category="education",
            action="withdrawn",
            evidence=Evidence(source="unsubscribe_link", reference="one-click POST (RFC 8058)"),
            at=datetime(2026, 2, 1, 9, 30, tzinfo=UTC),
        ),
        consent_record(
            recipient=dana,
            channel="sms",
            purpose="transactional",
            action="withdrawn",
            evidence=Evidence(source="sms_keyword", consent_text="STOP", reference="SM123"),
            at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        ),
    ]
    return dana, entries


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser(username="root", email="r@example.com", password="x" * 20)
    client.force_login(user)
    return client


def test_the_admin_cannot_change_or_delete_an_entry_even_as_superuser(ledger, superuser_client):
    _, entries = ledger
    entry = entries[0]
    url = f"/admin/preferences/consentrecord/{entry.pk}/change/"
    page = superuser_client.get(url)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # a read-only view
    posted = superuser_client.post(url, {"action": "withdrawn", "channel": "email", "purpose": "marketing"})
    assert posted.status_code == 403
    delete_url = f"/admin/preferences/consentrecord/{entry.pk}/delete/"
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    bulk = superuser_client.post(
        "/admin/preferences/consentrecord/",
        {"action": "delete_selected", "_selected_action": [e.pk for e in entries], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert ConsentRecord.objects.count() == 3
    assert ConsentRecord.objects.get(pk=entry.pk).action == "granted"
    # the recipient page shows the ledger read-only and offers no way to delete the recipient it protects
    recipient_page = superuser_client.get(f"/admin/preferences/recipient/{entry.recipient_id}/change/")
    assert recipient_page.status_code == 200 and b"Tips by email" not in recipient_page.content  # text not inline
    assert b"consent_records-0-action" not in recipient_page.content  # no editable inline field


def test_the_admin_can_append_a_correction(ledger, superuser_client):
    dana, _ = ledger
    response = superuser_client.post(
        "/admin/preferences/consentrecord/add/",
        {
            "recipient": dana.pk,
            "channel": "sms",
            "purpose": "transactional",
            "category": "",
            "action": "granted",
            "consent_text": "Customer called support and asked to get texts again.",
            "reference": "ticket 4711",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    latest = ConsentRecord.objects.order_by("-id").first()
    assert (latest.source, latest.actor, latest.action, latest.reference) == ("admin", "root", "granted", "ticket 4711")
    assert ConsentRecord.objects.count() == 4


def test_the_api_has_no_way_to_change_or_delete_an_entry(ledger, api):
    _, entries = ledger
    url = f"/api/v1/consents/{entries[0].pk}/"
    assert api.get(url).status_code == 200
    assert api.put(url, {"action": "withdrawn"}, format="json").status_code == 405
    assert api.patch(url, {"action": "withdrawn"}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    assert ConsentRecord.objects.get(pk=entries[0].pk).action == "granted"


def test_the_orm_refuses_updates_and_deletes(ledger):
    _, entries = ledger
    entry = entries[0]
    entry.action = "withdrawn"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        ConsentRecord.objects.filter(pk=entry.pk).update(action="withdrawn")
    with pytest.raises(PermissionError):
        ConsentRecord.objects.all().delete()
    assert ConsentRecord.objects.get(pk=entry.pk).action == "granted"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_raw_sql_updates_and_deletes(ledger):
    _, entries = ledger
    for sql in (
        "UPDATE preferences_consentrecord SET action = 'withdrawn' WHERE id = %s",
        "DELETE FROM preferences_consentrecord WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entries[0].pk])
    assert ConsentRecord.objects.get(pk=entries[0].pk).action == "granted"


def test_the_export_matches_the_ledger_in_json_and_csv(ledger, api):
    dana, entries = ledger
    as_json = api.get(f"/api/v1/recipients/{dana.external_id}/consent-ledger/")
    assert as_json.status_code == 200
    rows = as_json.json()
    assert [r["id"] for r in rows] == [e.pk for e in entries]  # every entry, oldest first
    for row, entry in zip(rows, entries, strict=True):
        assert (row["channel"], row["purpose"], row["category"], row["action"], row["source"]) == (
            entry.channel,
            entry.purpose,
            entry.category,
            entry.action,
            entry.source,
        )
        assert row["created_at"] == entry.created_at.isoformat()
        assert row["text_version"] == ConsentRecord.version_of(entry.consent_text)
    assert rows[0]["ip_address"] == "203.0.113.7" and rows[0]["consent_text"] == "Tips by email, v1"

    as_csv = api.get(f"/api/v1/recipients/{dana.external_id}/consent-ledger/?format=csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv["Content-Disposition"]
    parsed = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [int(r["id"]) for r in parsed] == [e.pk for e in entries]
    assert [r["action"] for r in parsed] == ["granted", "withdrawn", "withdrawn"]
    assert parsed[2]["reference"] == "SM123" and parsed[0]["created_at"] == rows[0]["created_at"]


def test_current_consent_is_derived_from_the_latest_entry_per_scope(ledger, api):
    dana, _ = ledger
    current = api.get(f"/api/v1/recipients/{dana.external_id}/consent/").json()
    assert [(c["channel"], c["purpose"], c["category"], c["action"]) for c in current] == [
        ("email", "marketing", "", "granted"),
        ("email", "marketing", "education", "withdrawn"),
        ("sms", "transactional", "", "withdrawn"),
    ]


def test_a_backend_records_consent_with_evidence(catalogue, api):
    RecipientFactory(external_id="123")
    response = api.post(
        "/api/v1/consents/",
        {
            "recipient": "123",
            "channel": "sms",
            "purpose": "marketing",
            "action": "granted",
            "consent_text": "Yes, text me offers. Msg&data rates may apply.",
            "ip_address": "198.51.100.4",
            "user_agent": "Checkout/2.1",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["actor"], body["ip_address"]) == ("api", "billing-backend", "198.51.100.4")
    bad = api.post(
        "/api/v1/consents/",
        {"recipient": "ghost", "channel": "fax", "purpose": "marketing", "action": "maybe"},
        format="json",
    )
    assert bad.status_code == 400 and {"channel", "action"} <= set(bad.json())
    assert ConsentRecord.objects.count() == 1


def test_service_tokens_need_the_right_permission(ledger, api_without_perms):
    dana, _ = ledger
    for method, url, body in [
        ("get", "/api/v1/consents/", None),
        (
            "post",
            "/api/v1/consents/",
            {"recipient": "123", "channel": "sms", "purpose": "marketing", "action": "granted"},
        ),
        ("get", "/api/v1/preferences/", None),
        ("post", "/api/v1/preferences/", {"recipient": "123", "enabled": False}),
        ("get", "/api/v1/suppressions/", None),
        ("post", "/api/v1/suppressions/", {"channel": "sms", "address": "+14155550123"}),
        ("get", f"/api/v1/recipients/{dana.external_id}/consent-ledger/", None),
        ("get", f"/api/v1/recipients/{dana.external_id}/export/", None),
        ("post", f"/api/v1/recipients/{dana.external_id}/erase/", None),
    ]:
        response = getattr(api_without_perms, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.status_code)
    assert ConsentRecord.objects.count() == 3
