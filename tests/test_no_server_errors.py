"""No input yields a 500: arbitrary JSON thrown at every write endpoint answers 2xx or 4xx, and a 4xx
leaves nothing behind."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.models import Notification

pytestmark = pytest.mark.django_db

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "123",
            123,
            "financial_alert",
            "sms",
            "email",
            "critical",
            "2030-01-01T00:00:00Z",
            {"external_id": "x", "phone": "+1"},
        ]
    ),
)
send_bodies = st.fixed_dictionaries(
    {},
    optional={
        "recipient": field_values,
        "type": field_values,
        "data": field_values,
        "channel": field_values,
        "priority": field_values,
        "send_at": field_values,
    },
)
contract_bodies = st.fixed_dictionaries(
    {},
    optional={
        "user_id": field_values,
        "trigger_type": field_values,
        "data": field_values,
        "channel": field_values,
        "priority": field_values,
        "scheduled_time": field_values,
    },
)

fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def post(api, path, body):
    return api.post(path, json.dumps(body), content_type="application/json")


def assert_no_server_error(response, rows_before):
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert Notification.objects.count() == rows_before


@fuzz
@given(body=send_bodies)
def test_v1_send(api, catalogue, recipient, body):
    rows = Notification.objects.count()
    assert_no_server_error(post(api, "/api/v1/notifications/", body), rows)


@fuzz
@given(body=contract_bodies)
def test_contract_send(api, catalogue, recipient, body):
    rows = Notification.objects.count()
    assert_no_server_error(post(api, "/api/communication/send", body), rows)


@fuzz
@given(items=st.one_of(json_values, st.lists(st.one_of(send_bodies, json_values), max_size=5)))
def test_v1_batch(api, catalogue, recipient, items):
    response = post(api, "/api/v1/notifications/batch/", {"notifications": items})
    assert response.status_code < 500, response.content[:300]


@fuzz
@given(items=st.one_of(json_values, st.lists(st.one_of(contract_bodies, json_values), max_size=5)))
def test_contract_batch(api, catalogue, recipient, items):
    response = post(api, "/api/communication/batch", {"communications": items})
    assert response.status_code < 500, response.content[:300]


@fuzz
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            k: field_values
            for k in ("email", "phone", "timezone", "locale", "attributes", "send_window_start", "send_window_end")
        },
    )
)
def test_recipient_upsert(api, body):
    response = api.put("/api/v1/recipients/fuzz-1/", json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.content[:300]


@fuzz
@given(task_id=st.text(max_size=40).filter(lambda s: "/" not in s and "?" not in s and "#" not in s))
def test_status_and_cancel_with_any_id(api, catalogue, task_id):
    from urllib.parse import quote

    for path in (f"/api/communication/status/{quote(task_id)}", f"/api/v1/notifications/{quote(task_id)}/"):
        assert api.get(path).status_code < 500
    assert api.post(f"/api/communication/cancel/{quote(task_id)}").status_code < 500


policy_values = st.one_of(
    field_values,
    st.sampled_from(["marketing", "transactional", "granted", "withdrawn", "education", "payment_reminder", ""]),
)


def _bodies(*names: str):
    return st.fixed_dictionaries({}, optional={name: policy_values for name in names})


def _ledger_unchanged(response, before: int) -> None:
    from preferences.models import ConsentRecord

    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert ConsentRecord.objects.count() == before


@fuzz
@given(
    path=st.sampled_from(["/api/v1/preferences/", "/api/v1/consents/", "/api/v1/suppressions/"]),
    body=_bodies(
        "recipient", "type", "category", "channel", "enabled", "purpose", "action", "consent_text", "address", "at"
    ),
)
def test_preferences_consent_and_suppression_writes(api, catalogue, recipient, path, body):
    from preferences.models import ConsentRecord

    before = ConsentRecord.objects.count()
    _ledger_unchanged(post(api, path, body), before)


@fuzz
@given(
    path=st.sampled_from(["/api/v1/me/preferences/", "/api/v1/me/consents/"]),
    body=_bodies("type", "category", "channel", "enabled", "purpose", "action", "consent_text"),
    profile=_bodies("timezone", "locale", "send_window_start", "send_window_end"),
)
def test_end_user_writes(catalogue, recipient, settings, path, body, profile):
    from rest_framework.test import APIClient

    from commhub.enduser import mint_user_token
    from preferences.models import ConsentRecord

    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "fuzz-end-user-key-" + "k" * 40}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('123')}")
    before = ConsentRecord.objects.count()
    _ledger_unchanged(client.post(path, json.dumps(body), content_type="application/json"), before)
    response = client.patch("/api/v1/me/", json.dumps(profile), content_type="application/json")
    assert response.status_code < 500, response.content[:300]


@fuzz
@given(
    body=st.dictionaries(st.sampled_from(["From", "To", "Body", "MessageSid"]), st.text(max_size=30), max_size=4),
    token=st.text(max_size=60).filter(lambda s: "/" not in s and "?" not in s and "#" not in s and s.strip()),
)
def test_public_endpoints_never_fail(client, catalogue, settings, body, token):
    from urllib.parse import quote

    from twilio.request_validator import RequestValidator

    settings.TWILIO_AUTH_TOKEN = "fuzz-token"
    signature = RequestValidator("fuzz-token").compute_signature("http://testserver/webhooks/twilio/inbound", body)
    response = client.post("/webhooks/twilio/inbound", body, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code < 500, response.content[:300]
    assert client.post(f"/unsubscribe/{quote(token)}/", {"List-Unsubscribe": "One-Click"}).status_code < 500
    assert client.get(f"/unsubscribe/{quote(token)}/").status_code < 500


@fuzz
@given(
    body=_bodies("template", "subject", "text", "html", "variables", "layout", "use_layout", "note"),
    preview=_bodies("version", "data", "recipient"),
    template_body=_bodies("type", "channel", "locale"),
)
def test_template_authoring_endpoints(catalogue, recipient, body, preview, template_body):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from templates_app.models import Template, TemplateVersion

    staff = get_user_model().objects.get_or_create(username="fuzz-editor", is_staff=True, is_superuser=True)[0]
    client = APIClient()
    client.force_authenticate(staff)
    template = Template.objects.get(notification_type__key="monthly_report", channel="email", locale="en")
    versions = TemplateVersion.objects.count()
    response = post(client, "/api/v1/template-versions/", {"template": template.pk, **body})
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert TemplateVersion.objects.count() == versions
    for path, payload in (
        (f"/api/v1/templates/{template.pk}/preview", preview),
        ("/api/v1/templates/", template_body),
    ):
        assert post(client, path, payload).status_code < 500
