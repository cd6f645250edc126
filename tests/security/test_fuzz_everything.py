"""Hostile values at every endpoint of the OpenAPI schema and every admin form: NUL characters, unpaired
surrogates, deep nesting, huge numbers, odd dates. No answer is a 5xx, and nothing that was stored breaks a
later read or export (every list, detail, export and admin page still opens afterwards).

The operations come from the schema commhub serves and the forms from the admin registry, so a new endpoint or
a new ModelAdmin is fuzzed without editing this file.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from commhub.enduser import mint_user_token
from tests.backoffice import populate

pytestmark = pytest.mark.django_db

ODD_DATES = ["0001-01-01", "9999-12-31", "9999-12-31T23:59:59Z", "2026-02-30", "1970-01-01T00:00:00+14:00", "-1"]
HUGE = [10**30, -(2**63) - 1, 1e308, -1e308, 2**64, 0.1]
BAD_TEXT = ["\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e", "%00", "../../etc/passwd", "=1+1", "x" * 5000]
DEEP = json.loads("[" * 40 + "]" * 40)

scalar = st.one_of(
    st.sampled_from(ODD_DATES + BAD_TEXT),
    st.sampled_from(HUGE),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),  # surrogates and controls included
    st.integers(),
    st.booleans(),
    st.none(),
)
value = st.one_of(scalar, st.just(DEEP), st.lists(scalar, max_size=3), st.dictionaries(st.text(max_size=5), scalar))


def _operations() -> list[tuple[str, str, dict, list[str]]]:
    """(method, path, operation, the names its JSON body takes) for every operation of the served schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    ops = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                ref = body.get("schema", {}).get("$ref", "")
                fields = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})) if ref else []
                ops.append((method, path, operation, fields))
    return ops


OPERATIONS = _operations()


def _as_url_text(item) -> str:
    return quote(str(item).encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture
def clients(catalogue, via_fakes, settings):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": "fuzz-everything-end-user-key-" + "k" * 40}
    rates = dict.fromkeys(("THROTTLE_CLIENT", "THROTTLE_END_USER", "THROTTLE_SENDS", "THROTTLE_ANON"), "")
    settings.COMMHUB = {**settings.COMMHUB, **rates}  # throttles have their own tests; here every call must land
    root = get_user_model().objects.create_superuser("fuzz-root", "root@example.com", "x" * 20)
    staff = APIClient()
    staff.force_authenticate(root)
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('123')}")
    return staff, person, root


fuzz = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))


def _call(client, method: str, path: str, operation: dict, data) -> int:
    url = path
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            url = url.replace("{" + parameter["name"] + "}", _as_url_text(data.get(parameter["name"], "1")))
    if method in ("get", "delete"):
        names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
        query = "&".join(f"{quote(n)}={_as_url_text(data.get(n, ''))}" for n in names if n in data)
        return getattr(client, method)(f"{url}?{query}" if query else url).status_code
    body = json.dumps({k: v for k, v in data.items()}, ensure_ascii=True)
    return getattr(client, method)(url, body, content_type="application/json").status_code


@fuzz
@given(
    index=st.integers(min_value=0, max_value=len(OPERATIONS) - 1),
    data=st.dictionaries(st.sampled_from(["id", "pk", "external_id", "task_id", "key", "format"]), scalar),
    extra=value,
    pick=st.data(),
)
def test_every_operation_answers_below_500(clients, index, data, extra, pick):
    staff, person, _ = clients
    method, path, operation, body_fields = OPERATIONS[index]
    names = body_fields + [p["name"] for p in operation.get("parameters", [])]
    for name in names:
        if pick.draw(st.booleans(), label=f"send {name}"):
            data[name] = pick.draw(value, label=name)
    client = person if path.startswith("/api/v1/me/") else staff
    status = _call(client, method, path, operation, {**data, "data": extra} if "data" in names else data)
    unhealthy = status == 503 and path.rstrip("/").endswith("health")  # no worker running here: documented
    assert status < 500 or unhealthy, (method, path, data)


def test_nothing_stored_by_the_fuzzing_breaks_a_read_or_an_export(clients):
    staff, person, _ = clients
    # what a hostile client may store through the API, stored
    hostile = {"name": "\u202e=HYPERLINK(1)", "deep": {"a": [1, [2, [3]]]}, "big": 10**18, "odd": "9999-12-31"}
    assert staff.put("/api/v1/recipients/fuzz-1/", {"email": "f@example.com", "attributes": hostile}, format="json")
    for path in ("/api/v1/me/preferences/", "/api/v1/me/consents/"):
        person.post(path, {"channel": "email", "enabled": False, "purpose": "marketing", "action": "granted"}, "json")
    staff.post("/api/v1/notifications/", {"recipient": "fuzz-1", "type": "monthly_report", "data": hostile}, "json")
    reads = [
        "/api/v1/notifications/",
        "/api/v1/recipients/",
        "/api/v1/recipients/fuzz-1/",
        "/api/v1/recipients/fuzz-1/export/",
        "/api/v1/recipients/fuzz-1/consent-ledger/?format=csv",
        "/api/v1/consents/",
        "/api/v1/preferences/",
        "/api/v1/suppressions/",
        "/api/v1/audit/?format=csv",
        "/api/v1/analytics/daily",
        "/api/v1/analytics/costs",
    ]
    for path in reads:
        assert staff.get(path).status_code == 200, path
    for path in ("/api/v1/me/", "/api/v1/me/export/", "/api/v1/me/notifications/"):
        assert person.get(path).status_code in (200, 404), path


def _form_data(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        initial = form.initial.get(name, field.initial)
        if initial is None:
            continue
        if isinstance(initial, list | tuple):
            data[name] = [getattr(i, "pk", i) for i in initial]
        else:
            data[name] = getattr(initial, "pk", initial)
    return data


FORM_VALUES = ["a\x00b", "9999-12-31", "0001-01-01", "2026-02-30", str(10**30), "-1e308", "x" * 5000, "[[[[[]]]]]"]


def test_every_admin_form_refuses_hostile_values_without_a_500_and_every_page_still_opens(clients):
    _, _, root = clients
    objects = populate()
    client = Client(raise_request_exception=False)  # every failure listed at the end, not the first raised
    client.force_login(root)
    failures = []
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        pages = [reverse("admin:{}_{}_add".format(*info))]
        if objects.get(model) is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[objects[model].pk]))
        for page in pages:
            shown = client.get(page)
            if shown.status_code != 200 or shown.context is None or "adminform" not in shown.context:
                continue  # read-only or refused: nothing to post
            form = shown.context["adminform"].form
            base = _form_data(form)
            for name in form.fields:
                for hostile in FORM_VALUES:
                    answer = client.post(page, {**base, name: hostile})
                    if answer.status_code >= 500:
                        failures.append(f"{page} {name}={hostile[:20]!r}: {answer.status_code}")
    assert not failures, failures
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        assert client.get(changelist).status_code == 200, changelist
        for obj in model._default_manager.all()[:20]:
            change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
            assert client.get(change).status_code == 200, change
