"""The audit trail records who did what, when and from where, with the fields before and after, for a template
publish, a retry, an erase and a suppression lift (through the API, the admin and a command); nobody can change
an entry: not the ORM, not the admin, not the API, not SQL on PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from audit.context import acting
from audit.models import AuditEntry
from notifications.constants import Status
from notifications.models import Notification
from templates_app.models import Template
from templates_app.services import version_create
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x" * 20)
    client = APIClient(REMOTE_ADDR="198.51.100.23")
    client.force_authenticate(user)
    client.user = user
    return client


def only(action: str) -> AuditEntry:
    """The one entry of `action` made through an edge (installing the catalogue publishes templates in-process)."""
    found = list(AuditEntry.objects.filter(action=action).exclude(source="worker"))
    assert len(found) == 1, [(e.actor, e.source, e.object_id, e.before, e.after) for e in found]
    [entry] = found
    return entry


def test_a_template_publish_names_the_actor_and_the_live_version_before_and_after(ops, catalogue):
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    draft = version_create(
        template=template, text="Due: {{ amount }}", variables=[{"name": "amount", "type": "string", "sample": "$5"}]
    )
    published = ops.post(f"/api/v1/template-versions/{draft.pk}/publish/")
    assert published.status_code == 200, published.content
    entry = only("template.publish")
    assert (entry.actor, entry.actor_kind, entry.actor_user_id) == ("ops", "user", ops.user.pk)
    assert (entry.source, entry.address) == ("api", "198.51.100.23")
    assert (entry.object_type, entry.object_id) == ("templates_app.template", str(template.pk))
    assert entry.before == {"live_version": 1} and entry.after == {"live_version": 2, "published_by": "ops"}


def test_a_retry_records_the_status_and_attempts_before_and_after(ops, catalogue, recipient):
    n = submit(type="financial_alert")
    Notification.objects.filter(pk=n.pk).update(status=Status.FAILED, attempts=3, last_error="timeout")
    assert ops.post(f"/api/v1/notifications/{n.pk}/retry/").status_code == 202
    entry = only("notification.retry")
    assert entry.before == {"status": "failed", "attempts": 3, "last_error": "timeout"}
    assert entry.after["status"] == "queued" and entry.after["attempts"] == 0
    assert entry.object_id == str(n.pk) and entry.actor == "ops"


def test_an_erase_records_that_it_happened_and_keeps_none_of_what_was_erased(ops, catalogue):
    RecipientFactory(external_id="dana-1", email="dana@example.com", phone="+14155550123")
    assert ops.post("/api/v1/recipients/dana-1/erase/").status_code == 200
    entry = only("recipient.erase")
    assert entry.before == {"erased_at": None} and entry.after["erased_at"]
    text = str(entry.before) + str(entry.after) + entry.object_repr + entry.detail
    assert "dana@example.com" not in text and "4155550123" not in text


def test_a_suppression_lift_by_staff_and_a_block_by_a_command(ops, catalogue):
    with acting("command", "suppress"):  # what manage.py sets for the process of a command
        from preferences.services import suppression_add

        suppression, _ = suppression_add(channel="email", address="gone@example.com", reason="manual")
    added = only("suppression.add")
    assert (added.actor, added.source, added.actor_kind) == ("manage.py suppress", "command", "system")
    lifted = ops.post(f"/api/v1/suppressions/{suppression.pk}/lift/", {"reason": "asked by phone"}, format="json")
    assert lifted.status_code == 200
    entry = only("suppression.lift")
    assert entry.before == {"lifted_at": None, "lifted_by": "", "lift_reason": ""}
    assert entry.after["lifted_by"] == "ops" and entry.after["lift_reason"] == "asked by phone"


def test_an_admin_edit_is_recorded_with_the_fields_it_changed(client, catalogue):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20)
    client.force_login(admin)
    from costs.models import Budget

    budget = Budget.objects.create(name="SMS daily", channel="sms", limit="10", currency="USD")
    page = client.get(f"/admin/costs/budget/{budget.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"name": "SMS per day", "limit": "12"})
    saved = client.post(f"/admin/costs/budget/{budget.pk}/change/", data)
    assert saved.status_code == 302, saved.content[:2000]
    entry = only("admin.change")
    assert (entry.actor, entry.source, entry.object_type) == ("root", "admin", "costs.budget")
    assert "Name" in entry.after["changed"] and "Limit" in entry.after["changed"]


def test_nobody_can_change_an_entry(ops, catalogue, client):
    RecipientFactory(external_id="dana-2")
    ops.post("/api/v1/recipients/dana-2/erase/")
    entry = only("recipient.erase")
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(actor="someone else")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    # the API reads and exports only
    assert ops.get(f"/api/v1/audit/{entry.pk}/").json()["action"] == "recipient.erase"
    for method in ("put", "patch", "delete"):
        assert getattr(ops, method)(f"/api/v1/audit/{entry.pk}/", {}, format="json").status_code == 405
    assert ops.post("/api/v1/audit/", {}, format="json").status_code == 405
    # the admin shows it read-only: no save, no delete, even for a superuser
    client.force_login(ops.user)
    assert client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"actor": "someone else"})
    entry.refresh_from_db()
    assert entry.actor == "ops"
    if connection.vendor == "postgresql":
        for sql in (
            "UPDATE audit_auditentry SET actor = 'x' WHERE id = %s",
            "DELETE FROM audit_auditentry WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).actor == "ops"


def test_the_trail_is_searchable_and_exports_as_csv(ops, catalogue, recipient):
    n = submit(type="financial_alert")
    ops.post(f"/api/v1/notifications/{n.pk}/cancel/")
    listed = ops.get("/api/v1/audit/?action=notification.cancel&actor=op").json()
    assert [e["object_id"] for e in listed["results"]] == [str(n.pk)]
    exported = ops.get("/api/v1/audit/?format=csv&object_type=notifications.notification")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    [row] = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert row["action"] == "notification.cancel" and '"status": "cancelled"' in row["after"]
    nobody = APIClient()
    nobody.force_authenticate(get_user_model().objects.create_user("viewer", password="x" * 20))
    assert nobody.get("/api/v1/audit/").status_code == 403  # needs audit.view_auditentry
    call_command("check")  # the app's admin and API load cleanly


def test_an_export_that_fails_answers_in_json(ops, db):
    refused = ops.get("/api/v1/audit/?format=csv&until=")
    assert refused.status_code == 400 and refused["Content-Type"].startswith("application/json")
    missing = ops.get("/api/v1/audit/999999/?format=csv")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/json")


def test_api_writes_to_recipients_templates_and_preferences_are_audited(ops, catalogue):
    ops.put("/api/v1/recipients/r-9/", {"email": "old@example.com"}, format="json")
    ops.put("/api/v1/recipients/r-9/", {"email": "new@example.com", "locale": "en"}, format="json")
    ops.put("/api/v1/recipients/r-9/", {"email": "new@example.com"}, format="json")  # no change: no entry
    created, updated = (only("recipient.create"), only("recipient.update"))
    assert created.after == {"email": "old@example.com"} and created.actor == "ops"
    assert updated.before == {"email": "old@example.com"} and updated.after == {"email": "new@example.com"}
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    sample = [{"name": "amount", "type": "string", "sample": "$5"}]
    draft = ops.post(
        "/api/v1/template-versions/",
        {"template": template.pk, "text": "Due {{ amount }}", "variables": sample},
        format="json",
    ).json()
    ops.patch(f"/api/v1/template-versions/{draft['id']}/", {"text": "Now due: {{ amount }}"}, format="json")
    edit = only("template.edit")
    assert edit.before == {"text": "Due {{ amount }}"} and edit.after == {"text": "Now due: {{ amount }}"}
    assert only("template.draft").after["text"] == "Due {{ amount }}"
    ops.post("/api/v1/preferences/", {"recipient": "r-9", "channel": "sms", "enabled": False}, format="json")
    assert only("preference.set").after["enabled"] is False


def test_a_send_naming_its_recipient_inline_adds_no_audit_row(ops, catalogue):
    before = AuditEntry.objects.count()
    inline = {"external_id": "inline-1", "email": "i@example.com"}
    sent = ops.post(
        "/api/v1/notifications/", {"recipient": inline, "type": "monthly_report", "data": {"month": "May"}}, "json"
    )
    assert sent.status_code == 202, sent.content
    assert AuditEntry.objects.count() == before
