"""Roles inside the hub: Django groups with explicit permissions. Each role can do its job and nothing more,
through the API and the admin; a role is given with `create_staff_user`."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from notifications.constants import Status
from notifications.models import Notification
from templates_app.models import Template
from templates_app.services import version_create
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db


def as_role(role: str) -> APIClient:
    call_command("create_staff_user", f"{role.lower()}-1", "--role", role, stdout=io.StringIO())
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=f"{role.lower()}-1"))
    return client


@pytest.fixture
def world(catalogue, recipient):
    failed = submit(type="financial_alert")
    Notification.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    sample = [{"name": "amount", "type": "string", "sample": "$5"}]
    draft = version_create(template=template, text="Due {{ amount }}", variables=sample)
    RecipientFactory(external_id="erase-me")
    return {"failed": failed.pk, "draft": draft.pk}


def abilities(client: APIClient, world: dict) -> dict[str, int]:
    return {
        "read notifications": client.get("/api/v1/notifications/").status_code,
        "retry": client.post(f"/api/v1/notifications/{world['failed']}/retry/").status_code,
        "publish": client.post(f"/api/v1/template-versions/{world['draft']}/publish/").status_code,
        "audit trail": client.get("/api/v1/audit/").status_code,
        "consent ledger": client.get("/api/v1/recipients/123/consent-ledger/").status_code,
        "send": client.post(
            "/api/v1/notifications/", {"recipient": "123", "type": "weekly_checkin"}, "json"
        ).status_code,
    }


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("Viewer", {"read notifications", "consent ledger"}),
        ("Operator", {"read notifications", "consent ledger", "retry"}),
        ("Editor", {"read notifications", "consent ledger", "publish"}),
        ("Auditor", {"read notifications", "consent ledger", "audit trail"}),
        ("Admin", {"read notifications", "consent ledger", "retry", "publish", "audit trail", "send"}),
    ],
)
def test_each_role_can_do_its_job_and_nothing_more(world, role, allowed):
    answers = abilities(as_role(role), world)
    assert {name for name, code in answers.items() if code < 400} == allowed, answers
    assert all(code == 403 for name, code in answers.items() if name not in allowed), answers


def test_only_an_admin_erases_and_the_admin_site_follows_the_role(world, client):
    assert as_role("Operator").post("/api/v1/recipients/erase-me/erase/").status_code == 403
    assert as_role("Admin").post("/api/v1/recipients/erase-me/erase/").status_code == 200
    call_command("create_staff_user", "ed", "--role", "editor", stdout=io.StringIO())
    editor = get_user_model().objects.get(username="ed")
    client.force_login(editor)
    assert client.get("/admin/templates_app/template/").status_code == 200
    assert client.get("/admin/audit/auditentry/").status_code == 403
    assert client.get("/admin/preferences/recipient/add/").status_code == 403


def test_create_staff_user_refuses_an_unknown_role_and_gives_one_role_at_a_time(db):
    with pytest.raises(CommandError, match="unknown role"):
        call_command("create_staff_user", "x", "--role", "root", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_staff_user", "sam", "--role", "viewer", stdout=out)
    assert "password:" in out.getvalue()
    call_command("create_staff_user", "sam", "--role", "auditor", stdout=io.StringIO())
    sam = get_user_model().objects.get(username="sam")
    assert sam.is_staff and [g.name for g in sam.groups.all()] == ["Auditor"]
