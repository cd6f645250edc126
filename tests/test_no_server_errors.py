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
        {}, optional={k: field_values for k in ("email", "phone", "timezone", "locale", "attributes")}
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
