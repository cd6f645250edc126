"""Template versions: a notification keeps the version it was submitted with (send, retry), publish and roll back,
published versions are frozen everywhere; variables are declared and checked at save and at submit; locales
fall back pt-BR -> pt -> the type's default -> en."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from commhub.errors import Conflict
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from notifications.services import notification_retry
from templates_app.models import Template, TemplateVersion
from templates_app.services import template_create, template_rollback, version_create, version_publish
from tests.factories import RecipientFactory, submit
from tests.fakes.providers import MAILGUN

pytestmark = pytest.mark.django_db

REPORT = {"month": "May"}
MONTH = [{"name": "month", "type": "string", "required": True, "sample": "May"}]


def report_template() -> Template:
    return Template.objects.get(notification_type__key="monthly_report", channel="email", locale="en")


def publish_new(template, *, subject, html="<p>{{ month }}</p>", variables=MONTH, **extra):
    version = version_create(template=template, subject=subject, html=html, variables=variables, **extra)
    return version_publish(version=version, actor="tests")


@pytest.fixture
def staff_api(db):
    user = get_user_model().objects.create_superuser(username="editor", email="editor@example.com", password="x" * 20)
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


def test_a_notification_keeps_its_version_through_send_and_retry(catalogue, recipient, via_fakes):
    v1 = report_template().published_version
    before = submit(type="monthly_report", data=REPORT)
    v2 = publish_new(report_template(), subject="NEW subject for {{ month }}")
    after = submit(type="monthly_report", data=REPORT)
    assert (before.template_version_id, after.template_version_id) == (v1.pk, v2.pk)

    via_fakes.fail_next(MAILGUN, status=400, message="Mailbox unavailable")  # `before` fails for good first
    queue_drain(queue="email_reports")
    subjects = {r.fields["subject"] for r in via_fakes.sent(MAILGUN)}
    assert subjects == {"NEW subject for May"}  # `after` went out with v2
    assert Notification.objects.get(pk=before.pk).status == Status.FAILED

    notification_retry(notification_id=before.pk)  # the re-send renders v1 again, not the live v2
    queue_drain(queue="email_reports")
    resent = via_fakes.sent(MAILGUN)[-1].fields["subject"]
    assert resent == "Your monthly report for May"
    assert Notification.objects.get(pk=before.pk).template_version_id == v1.pk


def test_rollback_makes_an_earlier_version_live_again(catalogue, recipient):
    template = report_template()
    publish_new(template, subject="v2 {{ month }}")
    assert submit(type="monthly_report", data=REPORT).template_version.number == 2
    template_rollback(template=template, number=1, actor="tests")
    assert submit(type="monthly_report", data=REPORT).template_version.number == 1
    with pytest.raises(ValidationError):
        template_rollback(template=template, number=9)


def test_published_versions_cannot_be_edited_by_the_api_the_admin_or_the_orm(catalogue, staff_api, client):
    version = report_template().published_version
    response = staff_api.patch(f"/api/v1/template-versions/{version.pk}/", {"subject": "hacked"}, format="json")
    assert response.status_code == 409
    client.force_login(staff_api.user)
    page = client.get(f"/admin/templates_app/templateversion/{version.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    posted = client.post(f"/admin/templates_app/templateversion/{version.pk}/change/", {"subject": "hacked"})
    assert posted.status_code == 403
    version.subject = "hacked"
    with pytest.raises(PermissionError):
        version.save()
    with pytest.raises(PermissionError):
        TemplateVersion.objects.get(pk=version.pk).delete()
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="frozen"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE templates_app_templateversion SET subject = 'x' WHERE id = %s", [version.pk])
    assert TemplateVersion.objects.get(pk=version.pk).subject == "Your monthly report for {{ month }}"


def test_drafts_are_edited_then_published_through_the_api(catalogue, staff_api):
    template = report_template()
    created = staff_api.post(
        "/api/v1/template-versions/",
        {"template": template.pk, "subject": "Draft {{ month }}", "html": "<p>{{ month }}</p>", "variables": MONTH},
        format="json",
    )
    assert created.status_code == 201, created.content
    draft = created.json()
    assert (draft["number"], draft["status"], draft["created_by"]) == (2, "draft", "editor")
    edited = staff_api.patch(
        f"/api/v1/template-versions/{draft['id']}/", {"subject": "Better {{ month }}"}, format="json"
    )
    assert edited.status_code == 200 and edited.json()["subject"] == "Better {{ month }}"
    assert report_template().published_version.number == 1  # a draft is not live
    published = staff_api.post(f"/api/v1/template-versions/{draft['id']}/publish/")
    assert published.status_code == 200 and published.json()["status"] == "published"
    detail = staff_api.get(f"/api/v1/templates/{template.pk}/").json()
    assert detail["live_version"] == 2 and [v["number"] for v in detail["versions"]] == [2, 1]
    rolled = staff_api.post(f"/api/v1/templates/{template.pk}/rollback/", {"version": 1}, format="json")
    assert rolled.status_code == 200 and rolled.json()["live_version"] == 1


def test_saving_a_version_that_uses_an_undeclared_variable_names_it(catalogue, staff_api):
    response = staff_api.post(
        "/api/v1/template-versions/",
        {"template": report_template().pk, "subject": "{{ month }} {{ year }}", "html": "<p>{{ total }}</p>"},
        format="json",
    )
    assert response.status_code == 400
    problems = " ".join(response.json()["variables"])
    assert "'month' is used but not declared" in problems and "'year'" in problems and "'total'" in problems


def test_an_optional_variable_used_without_a_guard_is_refused(catalogue):
    with pytest.raises(ValidationError) as exc:
        version_create(
            template=report_template(),
            subject="{{ month }}",
            html="<p>{{ note }}</p>",
            variables=[*MONTH, {"name": "note", "type": "string", "required": False}],
        )
    assert "'note' is optional but used without a guard" in str(exc.value)
    ok = version_create(
        template=report_template(),
        subject="{{ month }}",
        html="<p>{{ note | default('') }}</p>",
        variables=[*MONTH, {"name": "note", "type": "string", "required": False}],
    )
    assert ok.status == "draft"


@pytest.mark.parametrize(
    ("html", "refused"),
    [
        ("<p>Hi {{ recipient.attributes.first_name }}</p>", True),
        ("<p>Hi {{ recipient.attributes['first_name'] }}</p>", True),
        ("<p>Hi {{ recipient.attributes.first_name | default('there') }}</p>", False),
        ("{% if recipient.attributes.name is defined %}Hi {{ recipient.attributes.name }}{% endif %}", False),
        ("<p>{{ recipient.attributes.get('first_name', '') }}</p>", False),
        ("<p>{{ recipient.external_id }}</p>", False),
    ],
)
def test_a_recipient_attribute_without_a_guard_is_refused_at_save_naming_it(catalogue, html, refused):
    """Such a version would validate, publish, then make every send to someone without the attribute a 400."""
    fields = {"template": report_template(), "subject": "{{ month }}", "html": html, "variables": MONTH}
    if not refused:
        assert version_create(**fields).status == "draft"
        return
    with pytest.raises(ValidationError) as exc:
        version_create(**fields)
    [problem] = exc.value.message_dict["html"]
    assert problem.startswith("recipient.attributes.first_name is used without a guard"), problem
    assert not TemplateVersion.objects.filter(template=report_template(), status="draft").exists()


def test_a_send_missing_a_required_variable_is_a_400_naming_it(catalogue, recipient, api):
    response = api.post(
        "/api/v1/notifications/", {"recipient": "123", "type": "monthly_report", "data": {}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"data": {"month": ["This variable is required by the template."]}}
    assert Notification.objects.count() == 0
    publish_new(report_template(), subject="{{ month }}", variables=[{"name": "month", "type": "number", "sample": 5}])
    typed = api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "monthly_report", "data": {"month": "May"}},
        format="json",
    )
    assert typed.status_code == 400 and typed.json() == {"data": {"month": ["Expected a number."]}}


@pytest.fixture
def localized(catalogue):
    """payment_reminder SMS in en (catalogue), pt and es; the type's default locale is es."""
    ntype = catalogue["payment_reminder"]
    ntype.default_locale = "es"
    ntype.save()
    variables = [{"name": n, "type": "string", "required": True, "sample": n} for n in ("bill_name", "due_date")]
    for locale, text in [
        ("pt", "Lembrete: {{ bill_name }} vence {{ due_date }}."),
        ("es", "Recordatorio: {{ bill_name }}."),
    ]:
        template = template_create(notification_type=ntype, channel="sms", locale=locale)
        version_publish(version=version_create(template=template, text=text, variables=variables))
    return ntype


def test_locale_falls_back_from_pt_br_to_pt_then_the_type_default_then_en(localized):
    RecipientFactory(external_id="br", locale="pt-BR", phone="+5511987654321")
    data = {"bill_name": "Aluguel", "amount": "R$900", "due_date": "sexta"}
    n = submit(recipient="br", type="payment_reminder", data=data)
    assert n.template.locale == "pt"
    assert "pt for the recipient's pt-BR" in next(s for s in n.decision_trace if s["check"] == "template")["reason"]
    deactivate(localized, "pt")
    assert submit(recipient="br", type="payment_reminder", data=data).template.locale == "es"
    deactivate(localized, "es")
    assert submit(recipient="br", type="payment_reminder", data=data).template.locale == "en"


def deactivate(ntype, locale: str) -> None:
    template = Template.objects.get(notification_type=ntype, channel="sms", locale=locale)
    template.is_active = False
    template.save()  # as the admin or the API does (a bulk .update() reaches other processes within the cache time)


def test_an_exact_locale_wins_and_a_fallback_notification_uses_its_own_channels_chain(localized):
    pt_br = template_create(notification_type=localized, channel="sms", locale="pt-BR")
    version_publish(
        version=version_create(
            template=pt_br,
            text="Oi! {{ bill_name }}",
            variables=[{"name": "bill_name", "type": "string", "required": True, "sample": "x"}],
        )
    )
    RecipientFactory(external_id="br", locale="pt-BR", phone="+5511987654321")
    n = submit(recipient="br", type="payment_reminder", data={"bill_name": "Luz", "amount": "1", "due_date": "hoje"})
    assert n.template.locale == "pt-BR"


def test_editing_a_draft_that_another_request_published_is_a_conflict(catalogue):
    draft = version_create(template=report_template(), subject="{{ month }}", html="<p>x</p>", variables=MONTH)
    version_publish(version=draft)
    from templates_app.services import version_update

    with pytest.raises(Conflict):
        version_update(version=TemplateVersion.objects.get(pk=draft.pk), subject="late edit")


def test_non_staff_service_accounts_cannot_author_templates(catalogue, api):
    assert api.get("/api/v1/templates/").status_code == 403
    assert api.post(f"/api/v1/templates/{report_template().pk}/preview", {}, format="json").status_code == 403


def test_invalid_input_is_never_a_500(catalogue, staff_api):
    bad = staff_api.post("/api/v1/templates/", {"type": "nope", "channel": "fax"}, format="json")
    assert bad.status_code == 400 and "channel" in bad.json()
    unknown = staff_api.post("/api/v1/templates/", {"type": "nope", "channel": "sms"}, format="json")
    assert unknown.status_code == 400 and "type" in unknown.json()
    duplicate = staff_api.post("/api/v1/templates/", {"type": "monthly_report", "channel": "email"}, format="json")
    assert duplicate.status_code == 400 and "locale" in duplicate.json()
    bad_locale = staff_api.post(
        "/api/v1/templates/", {"type": "monthly_report", "channel": "email", "locale": "not a locale"}, format="json"
    )
    assert bad_locale.status_code == 400 and "locale" in bad_locale.json()
