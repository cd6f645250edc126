"""The back office used the way staff use it, in a real browser: log in, edit a draft and preview what is on
screen, publish with the confirmation, roll back, send a test to oneself, schedule a recurring send and see its
next runs and audience, retry a failed notification from its page, add and lift a suppression, create and edit
a budget, read the dashboard; a template editor without recipient rights previews with sample data only;
see who lifted a suppression in the audit trail; another organisation's editor overrides a shared template for
their organisation only."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from costs.models import Budget
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, RecurringSend
from notifications.services import SubmitRequest, notification_submit
from preferences.models import Suppression
from templates_app.models import Template, VersionStatus
from templates_app.services import version_create
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN, TWILIO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _dialogs(page) -> list[str]:
    """Accept every confirmation the page asks for, keeping what it said."""
    said: list[str] = []

    def accept(dialog) -> None:
        said.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return said


def test_edit_a_draft_preview_it_as_typed_publish_it_and_roll_back(staff_page, catalogue):
    page = staff_page
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    v1 = template.published_version
    draft = version_create(template=template, text=v1.text, variables=list(v1.variables), note="next")
    said = _dialogs(page)

    page.goto(f"{page.base}/admin/templates_app/templateversion/{draft.pk}/change/")
    expect(page.locator("#version-state")).to_contain_text("Draft")
    page.fill("#id_text", "Hi! {{ bill_name }} ({{ amount }}) is due {{ due_date }} 🎉")
    page.click("#preview-on-screen")
    expect(page.locator("#preview-text")).to_contain_text("Hi! Rent ($")  # the unsaved text, with sample data
    expect(page.locator("#preview-sms")).to_contain_text("UCS-2")  # the emoji switches the encoding
    draft.refresh_from_db()
    assert draft.text == v1.text  # previewing saved nothing

    page.click("#publish")  # with unsaved edits: it asks to save them and publish them
    expect(page.locator("#version-state")).to_contain_text("Live")
    assert "unsaved edits" in said[0]
    draft.refresh_from_db()
    template.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED and draft.text.startswith("Hi! {{ bill_name }}")
    assert template.published_version_id == draft.pk
    expect(page.locator("#publish")).to_have_count(0)  # nothing to publish or roll back on the live version

    page.goto(f"{page.base}/admin/templates_app/templateversion/{v1.pk}/change/")
    expect(page.locator("#version-state")).to_contain_text("Published, not live")
    page.click("#publish")  # "Roll back to this version"
    expect(page.locator("#version-state")).to_contain_text("Live")
    assert "live again" in said[-1]
    template.refresh_from_db()
    assert template.published_version_id == v1.pk


def test_send_a_test_of_a_template_to_myself(staff_page, catalogue, via_fakes):
    page = staff_page
    version = Template.objects.get(notification_type__key="monthly_report", channel="email").published_version
    page.goto(f"{page.base}/admin/templates_app/templateversion/{version.pk}/change/")
    page.click("#test-send")
    expect(page.locator(".messagelist")).to_contain_text("Test sent to you")
    [email] = via_fakes.sent(MAILGUN)
    assert "admin@example.com" in str(email.fields["to"]) and str(email.fields["subject"]).startswith("[TEST] ")


def test_schedule_a_recurring_send_and_see_its_next_runs_and_audience(staff_page, catalogue):
    page = staff_page
    for name in ("ana", "ben", "staff:admin"):
        RecipientFactory(external_id=name)  # staff:admin is commhub's own test recipient: not an audience
    page.goto(f"{page.base}/admin/notifications/recurringsend/add/")
    page.fill("#id_name", "Monday check-in")
    page.select_option("#id_notification_type", label="weekly_checkin")
    page.fill("#id_data", "{}")
    page.fill("#id_minute", "0")
    page.fill("#id_hour", "9")
    page.fill("#id_day_of_week", "mon")
    page.fill("#id_timezone", "Europe/Paris")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".field-audience_size")).to_contain_text("2 recipients")
    next_runs = page.locator(".field-next_runs").inner_text()
    assert next_runs.count("Mon ") == 3 and "09:00 Europe/Paris" in next_runs

    page.goto(f"{page.base}/admin/notifications/recurringsend/add/")  # a definition that can never work
    page.fill("#id_name", "Leap-less")
    page.select_option("#id_notification_type", label="payment_reminder")
    page.fill("#id_data", '{"bill_name": "Rent"}')
    page.fill("#id_day_of_month", "30")
    page.fill("#id_month_of_year", "2")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    errors = page.locator(".errorlist").all_inner_texts()
    assert any("never runs" in e for e in errors) and any("due_date" in e for e in errors), errors
    assert RecurringSend.objects.count() == 1


def test_retry_a_failed_notification_from_its_page(staff_page, catalogue, recipient, via_fakes):
    page = staff_page
    alert = catalogue["financial_alert"]
    alert.max_retries, alert.fallback_channel = 0, ""
    alert.save()
    via_fakes.fail_always(TWILIO, status=503, message="Service Unavailable")
    n = notification_submit(
        SubmitRequest(recipient="123", type="financial_alert", data={"amount": "$1", "account": "x"})
    )
    queue_drain(queue="sms_critical", threads=1)
    assert Notification.objects.get(pk=n.pk).status == Status.FAILED

    page.goto(f"{page.base}/admin/notifications/notification/{n.pk}/change/")
    expect(page.locator("#content h2").first).to_contain_text("financial_alert to 123 by sms")  # not a pk
    page.click("#retry-notification")
    expect(page.locator(".messagelist")).to_contain_text("Requeued")
    assert Notification.objects.get(pk=n.pk).status == Status.QUEUED
    expect(page.locator("#retry-notification")).to_have_count(0)


def test_add_a_suppression_lift_it_and_add_it_again(staff_page, catalogue):
    page = staff_page
    page.goto(f"{page.base}/admin/preferences/suppression/add/")
    page.select_option("#id_channel", "email")
    page.fill("#id_address", "Someone@Example.com")
    page.fill("#id_detail", "asked on the phone")
    page.click("input[name=_save]")
    expect(page.locator("#result_list")).to_contain_text("someone@example.com")
    block = Suppression.objects.get(address="someone@example.com")

    page.goto(f"{page.base}/admin/preferences/suppression/add/")  # the same address again
    page.select_option("#id_channel", "email")
    page.fill("#id_address", "someone@example.com")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was already suppressed")
    assert Suppression.objects.filter(address="someone@example.com").count() == 1

    page.goto(f"{page.base}/admin/preferences/suppression/{block.pk}/change/")
    page.fill("#id_lift_reason", "confirmed the address works again")
    page.click("input[name=_save]")
    block.refresh_from_db()
    assert block.lifted_at is not None and block.lifted_by == "admin"


def test_create_a_budget_then_edit_and_pause_it(staff_page, catalogue):
    page = staff_page
    page.goto(f"{page.base}/admin/costs/budget/add/")
    page.fill("#id_name", "Marketing email")
    page.fill("#id_limit", "25")
    page.select_option("#id_currency", "EUR")
    page.select_option("#id_channel", "email")
    page.click("input[name=_continue]")
    expect(page.locator(".field-spend_history")).to_contain_text("Nothing committed yet")
    budget = Budget.objects.get(name="Marketing email")
    assert (budget.limit, budget.currency, budget.include_critical) == (Decimal("25"), "EUR", False)

    page.fill("#id_limit", "30")
    page.uncheck("#id_is_active")
    page.click("input[name=_save]")
    expect(page.locator("#result_list")).to_contain_text("Marketing email")
    budget.refresh_from_db()
    assert budget.limit == Decimal("30") and not budget.is_active


def test_read_the_dashboard(staff_page, catalogue, recipient):
    page = staff_page
    for _ in range(2):
        notification_submit(
            SubmitRequest(recipient="123", type="financial_alert", data={"amount": "$1", "account": "x"})
        )
    queue_drain(queue="sms_critical", threads=1)
    page.goto(f"{page.base}/admin/")
    page.click("text=Dashboard: volume, cost, delivery rate, queues")
    expect(page.locator("#as-of")).to_contain_text("Today is live, as of")
    expect(page.locator("#delivery-rate")).to_have_text("delivery not tracked")  # captured, not delivered
    expect(page.locator(".commhub-kpis")).to_contain_text("2")
    # readable at normal zoom: chart labels are at least 10 pixels tall on screen, and queue names do not overlap
    heights = page.locator("svg.commhub-chart text").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 10, heights
    boxes = (
        page.locator("svg.commhub-chart")
        .last.locator("text")
        .evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
        )
    )
    overlapping = [
        (a, b)
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]
    assert not overlapping, overlapping


def test_a_template_editor_without_recipient_rights_previews_with_sample_data_only(page, live_server, catalogue):
    """The security review read recipients' data through the preview: someone who may edit templates but not
    read recipients gets a refusal naming the permission, alike for a real and an unknown id."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from tests.browser.conftest import PASSWORD

    RecipientFactory(external_id="dana", email="dana@example.com", attributes={"first_name": "Dana"})
    editor = get_user_model().objects.create_user("writer", password=PASSWORD, is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_template", "view_templateversion", "change_templateversion"])
    )
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "writer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    template = Template.objects.get(notification_type__key="financial_alert", channel="email", locale="en")
    live = template.published_version
    page.goto(f"{live_server.url}/admin/templates_app/templateversion/{live.pk}/change/")
    for who in ("dana", "ghost"):  # the live version: the preview form reloads the page
        page.fill("#preview-recipient", who)
        page.click("#preview-recipient-form button[type=submit]")
        expect(page.locator("#preview-error")).to_contain_text("needs the permission preferences.view_recipient")
        expect(page.locator("#preview-text")).not_to_contain_text("Dana")
    draft = version_create(
        template=template, subject=live.subject, text=live.text, html=live.html, variables=list(live.variables)
    )
    page.goto(f"{live_server.url}/admin/templates_app/templateversion/{draft.pk}/change/")
    page.fill("#preview-recipient", "dana")  # a draft: previewed as typed, without reloading
    page.click("#preview-on-screen")
    expect(page.locator("#preview-error")).to_contain_text("needs the permission preferences.view_recipient")
    page.fill("#preview-recipient", "")
    page.click("#preview-on-screen")
    expect(page.locator("#preview-error")).to_be_hidden()  # the sample recipient stays open to editors
    expect(page.locator("#preview-text")).to_contain_text("Hi Sam,")


def test_see_who_lifted_a_suppression_in_the_audit_trail(staff_page, catalogue):
    page = staff_page
    from preferences.services import suppression_add

    block, _ = suppression_add(channel="email", address="back@example.com", reason="manual")
    page.goto(f"{page.base}/admin/preferences/suppression/{block.pk}/change/")
    page.fill("#id_lift_reason", "the customer asked by phone")
    page.click("input[name=_save]")
    page.goto(f"{page.base}/admin/audit/auditentry/?action=suppression.lift")
    expect(page.locator("#result_list")).to_contain_text("admin")
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator("#content")).to_contain_text("the customer asked by phone")  # the fields after
    expect(page.locator("input[name=_save]")).to_have_count(0)  # read-only: nothing to save


def test_a_tenant_editor_overrides_a_shared_template_for_their_organisation_only(page, live_server, catalogue):
    """An editor of another organisation than the default one reads the shared templates but cannot change
    them; they make their organisation's own, publish it, and only their organisation's messages use it. The
    recipients list shows their organisation's people only."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from commhub import tenancy
    from orgs.services import organisation_create
    from tests.browser.conftest import PASSWORD

    beta, _ = organisation_create(slug="beta", name="Beta")
    call_command("create_staff_user", "bea", "--role", "Editor", "--organisation", "beta", stdout=_Discard())
    bea = get_user_model().objects.get(username="bea")
    bea.set_password(PASSWORD)
    bea.save()
    RecipientFactory(external_id="dana", email="dana@example.com", phone="+14155550123")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="bo", email="bo@beta.example", phone="+14155550999")
    shared = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bea")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/templates_app/template/{shared.pk}/change/")
    expect(page.locator("input[name=_save]")).to_have_count(0)  # shared: read-only for this organisation
    page.goto(f"{live_server.url}/admin/preferences/recipient/")
    expect(page.locator("#result_list")).to_contain_text("bo")
    expect(page.locator("#result_list")).not_to_contain_text("dana")

    page.goto(f"{live_server.url}/admin/templates_app/template/add/")
    page.select_option("#id_notification_type", str(shared.notification_type_id))
    page.select_option("#id_channel", "sms")
    page.fill("#id_locale", "en")
    page.click("input[name=_continue]")
    page.click("text=New draft version")
    page.fill("#id_text", "Beta reminds you: {{ bill_name }} ({{ amount }}) is due {{ due_date }}.")
    page.fill("#id_variables", json.dumps(list(shared.published_version.variables)))
    page.click("input[name=_continue]")
    said = _dialogs(page)
    page.click("#publish")
    expect(page.locator("#version-state")).to_contain_text("Live")
    assert said

    own = Template._base_manager.get(organisation=beta, channel="sms", notification_type=shared.notification_type)
    data = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
    with tenancy.within(beta.pk):
        theirs = notification_submit(SubmitRequest(recipient="bo", type="payment_reminder", data=data))
    ours = notification_submit(SubmitRequest(recipient="dana", type="payment_reminder", data=data))
    assert theirs.template_id == own.pk and ours.template_id == shared.pk


class _Discard:
    def write(self, text: str) -> None:
        pass
