"""Every page of the back office opens without a server error: for every registered ModelAdmin, the changelist
(plain, searched, and with each choice of each filter), the add page and the change page of a realistic object,
as a superuser and as a staff member who may only view."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.backoffice import populate

pytestmark = pytest.mark.django_db


def _filter_urls(model_admin: admin.ModelAdmin, user) -> list[str]:
    """The query string of every choice of every filter the changelist offers this user."""
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    filter_specs, *_ = changelist.get_filters(request)
    return [choice["query_string"] for spec in filter_specs for choice in spec.choices(changelist)]


def _visit(client: Client, url: str, failures: list[str]) -> int:
    response = client.get(url)
    if response.status_code >= 500:
        failures.append(f"{url}: {response.status_code}")
    return response.status_code


@pytest.fixture
def back_office(catalogue, via_fakes):
    admin_user = get_user_model().objects.create_superuser("admin", "admin@example.com", "x" * 20)
    viewer = get_user_model().objects.create_user("viewer", "viewer@example.com", "x" * 20, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return admin_user, viewer, populate()


def test_every_registered_model_admin_opens_for_an_admin_and_a_viewer(back_office):
    admin_user, viewer, objects = back_office
    registry = admin.site._registry
    assert set(registry) == set(objects), "a registered model has no object to open; add one to tests/backoffice.py"
    failures: list[str] = []
    visited = 0
    for user in (admin_user, viewer):
        client = Client()
        client.force_login(user)
        assert _visit(client, reverse("admin:index"), failures) == 200
        for model, model_admin in registry.items():
            info = (model._meta.app_label, model._meta.model_name)
            changelist = reverse("admin:{}_{}_changelist".format(*info))
            request = RequestFactory().get(changelist)
            request.user = user
            if not model_admin.has_view_permission(request):  # superusers' pages (organisations, beat's tasks)
                assert _visit(client, changelist, failures) == 403, (user, changelist)
                visited += 1
                continue
            assert _visit(client, changelist, failures) == 200, (user, changelist)
            if model_admin.get_search_fields(None):
                _visit(client, f"{changelist}?q=123", failures)
            for query in _filter_urls(model_admin, user):
                _visit(client, f"{changelist}{query}", failures)
            _visit(client, reverse("admin:{}_{}_add".format(*info)), failures)
            change = reverse("admin:{}_{}_change".format(*info), args=[objects[model].pk])
            assert _visit(client, change, failures) == 200, (user, change)
            visited += 1
    assert not failures, failures
    assert visited == 2 * len(registry) and len(registry) >= 24
