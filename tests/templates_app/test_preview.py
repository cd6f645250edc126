"""Preview and test send: the admin shows the rendered email (sandboxed iframe) and the SMS segment count, with
sample data or a real recipient; a test send reaches the local fake provider; the API preview says the same;
an emoji that doubles an SMS's cost is flagged."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from preferences.services import recipient_upsert
from templates_app.models import Layout, Partial, Template
from templates_app.services import template_preview, version_create, version_publish
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN, TWILIO

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_superuser(username="editor", email="editor@example.com", password="x" * 20)
    client.force_login(user)
    client.user = user
    return client


def live(key: str, channel: str):
    return Template.objects.get(notification_type__key=key, channel=channel, locale="en").published_version


def test_the_admin_previews_the_rendered_email_in_a_sandboxed_iframe(staff, catalogue):
    version = live("educational_content", "email")
    page = staff.get(f"/admin/templates_app/templateversion/{version.pk}/change/").content.decode()
    assert '<td id="preview-subject">Budgeting 101</td>' in page
    iframe = re.search(r'<iframe id="preview-html" sandbox="" [^>]*srcdoc="([^"]*)"', page)
    assert iframe is not None
    html = unescape(iframe.group(1))
    assert "<h1>Budgeting 101</h1>" in html and "commhub · notifications you asked for" in html  # layout + partial
    assert "Unsubscribe" in html  # marketing: the layout's unsubscribe block
    assert "Read more: https://example.com/learn/budgeting" in unescape(page)  # the text part
    assert "Cost estimate" in page and "0.0001" in page


def test_the_admin_preview_shows_sms_segments_and_renders_for_a_real_recipient(staff, catalogue):
    RecipientFactory(external_id="dana", attributes={"first_name": "Dana"})
    version = live("financial_alert", "sms")
    page = staff.get(
        f"/admin/templates_app/templateversion/{version.pk}/change/?preview_recipient=dana"
    ).content.decode()
    assert '<td id="preview-sms">GSM-7, ' in page and "1 segment<" in page
    assert "Alert: $120.00 on your checking account." in page
    email = live("financial_alert", "email")
    page = staff.get(f"/admin/templates_app/templateversion/{email.pk}/change/?preview_recipient=dana").content.decode()
    assert "Hi Dana," in unescape(page)  # the recipient's own attributes
    missing = staff.get(f"/admin/templates_app/templateversion/{email.pk}/change/?preview_recipient=ghost")
    assert "Unknown recipient &#x27;ghost&#x27;" in missing.content.decode()


def _template_editor(*, admin: bool):
    """A staff user who may read and preview templates, and nothing about recipients."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username="tpl", password="x" * 20, is_staff=True)
    codenames = ["view_template", "view_templateversion", "change_templateversion"] if admin else ["view_template"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_preview_with_a_real_recipient_needs_the_right_to_read_recipients(catalogue):
    """A template editor must not read a recipient's address and attributes through a preview, nor learn
    whether an id exists: the refusal is the same for a real and an unknown id (API and admin)."""
    RecipientFactory(external_id="dana", email="dana@example.com", attributes={"first_name": "Dana"})
    user = _template_editor(admin=False)
    api = APIClient()
    api.force_authenticate(user)
    template = Template.objects.get(notification_type__key="financial_alert", channel="email", locale="en")
    url = f"/api/v1/templates/{template.pk}/preview"
    real = api.post(url, {"recipient": "dana"}, format="json")
    ghost = api.post(url, {"recipient": "ghost"}, format="json")
    assert real.status_code == ghost.status_code == 400
    assert real.json() == ghost.json()
    assert "preferences.view_recipient" in str(real.json()) and "Dana" not in str(real.json())
    assert api.post(url, {}, format="json").status_code == 200  # the sample recipient stays open to editors

    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_recipient"))
    from commhub.permissions import clear_permission_cache

    clear_permission_cache()
    user = get_user_model().objects.get(pk=user.pk)  # Django caches permissions on the instance
    api.force_authenticate(user)
    allowed = api.post(url, {"recipient": "dana"}, format="json")
    assert allowed.status_code == 200, allowed.content
    assert "Hi Dana," in allowed.json()["text"]  # the recipient's own attributes
    unknown = api.post(url, {"recipient": "ghost"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["recipient"] == ["Unknown recipient 'ghost'."]


def test_the_admin_preview_refuses_real_recipients_to_template_only_staff(client, catalogue):
    RecipientFactory(external_id="dana", attributes={"first_name": "Dana"})
    user = _template_editor(admin=True)
    client.force_login(user)
    version = live("financial_alert", "email")
    base = f"/admin/templates_app/templateversion/{version.pk}/change/?preview_recipient="
    real, ghost = client.get(base + "dana").content.decode(), client.get(base + "ghost").content.decode()
    assert "Dana" not in unescape(real)
    assert "needs the permission preferences.view_recipient" in real and "needs the permission" in ghost
    draft = client.post(
        "/admin/templates_app/templateversion/preview-draft/",
        {
            "version_id": version.pk,
            "subject": version.subject,
            "html": version.html,
            "text": version.text,
            "variables": json.dumps(version.variables),
            "use_layout": "on",
            "preview_recipient": "dana",
        },
    )
    assert draft.status_code == 400 and "Dana" not in draft.content.decode()
    assert "preferences.view_recipient" in draft.json()["errors"]["recipient"][0]["message"]


def test_a_test_send_reaches_the_fake_provider(staff, catalogue, via_fakes):
    email = live("monthly_report", "email")
    response = staff.post(f"/admin/templates_app/templateversion/{email.pk}/test-send/")
    assert response.status_code == 302
    [sent] = via_fakes.sent(MAILGUN)
    assert sent.fields["to"] == "editor@example.com" and sent.fields["subject"] == "[TEST] Your monthly report for May"

    sms = live("payment_reminder", "sms")
    staff.post(f"/admin/templates_app/templateversion/{sms.pk}/test-send/")
    assert via_fakes.sent(TWILIO) == []  # no phone on file yet: nothing sent, a message says how to set one
    recipient_upsert(external_id="staff:editor", phone="+14155550166")
    staff.post(f"/admin/templates_app/templateversion/{sms.pk}/test-send/")
    [text] = via_fakes.sent(TWILIO)
    assert text.fields["To"] == "+14155550166" and text.fields["Body"] == "Reminder: Rent of $120.00 is due Friday."


def test_the_admin_publishes_a_draft_and_rolls_back(staff, catalogue):
    template = Template.objects.get(notification_type__key="monthly_report", channel="email", locale="en")
    added = staff.post(
        "/admin/templates_app/templateversion/add/",
        {
            "template": template.pk,
            "subject": "Report: {{ month }}",
            "html": "<p>{{ month }}</p>",
            "variables": '[{"name": "month", "type": "string", "required": true, "sample": "June"}]',
            "use_layout": "on",
        },
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    slot_page = staff.get(f"/admin/templates_app/template/{template.pk}/change/").content.decode()
    assert ">v2</a>" in slot_page and ">v1</a>" in slot_page and "New draft version" in slot_page
    draft = template.versions.get(number=2)
    staff.post(f"/admin/templates_app/templateversion/{draft.pk}/publish/")
    template.refresh_from_db()
    assert template.published_version_id == draft.pk
    staff.post(f"/admin/templates_app/templateversion/{live('monthly_report', 'email').pk}/publish/")
    first = template.versions.get(number=1)
    staff.post(f"/admin/templates_app/templateversion/{first.pk}/publish/")  # roll back
    template.refresh_from_db()
    assert template.published_version_id == first.pk


def test_the_api_preview_reports_encoding_segments_cost_and_the_emoji_warning(catalogue):
    user = get_user_model().objects.create_user(username="ed", password="x" * 20, is_staff=True)
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_template"))
    api = APIClient()
    api.force_authenticate(user)
    template = Template.objects.get(notification_type__key="milestone_reminder", channel="sms", locale="en")
    response = api.post(f"/api/v1/templates/{template.pk}/preview", {"data": {"message": "x" * 90}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sms"] == {"encoding": "UCS-2", "length": 118, "segments": 2}  # 🎉 is 2 UTF-16 units
    assert body["cost"] == {"amount": "0.015000", "currency": "USD"}
    assert body["warnings"] == ["🎉 switch this SMS to UCS-2: 2 segments instead of 1, so it costs 2x as much."]
    assert api.post(f"/api/v1/templates/{template.pk}/preview/", {}, format="json").status_code == 200


def test_text_is_derived_from_html_when_a_version_has_none(catalogue):
    template = Template.objects.get(notification_type__key="monthly_report", channel="email", locale="en")
    version = version_create(
        template=template,
        subject="{{ month }}",
        html="<h1>Report for {{ month }}</h1><p>Totals:<br>in &amp; out</p><ul><li>One</li><li>Two</li></ul>"
        '<p><a href="https://example.com/r">Open it</a></p>',
        variables=[{"name": "month", "type": "string", "required": True, "sample": "May"}],
        use_layout=False,
    )
    text = template_preview(version=version).text
    assert text == "Report for May\n\nTotals:\nin & out\n\n- One\n- Two\n\nOpen it (https://example.com/r)\n"


def test_layouts_and_partials_are_shared_and_edits_apply(catalogue):
    Partial.objects.filter(name="footer").update(source="Acme Corp, 1 Main St")
    footer = Partial.objects.get(name="footer")
    footer.save()  # as the admin saves it: caches follow
    layout = Layout.objects.get(name="default-email")
    assert layout.is_default
    html = template_preview(version=live("monthly_report", "email")).html
    assert "Acme Corp, 1 Main St" in html and "{{" not in html
    version_publish(version=live("monthly_report", "email"))  # publishing again is harmless
