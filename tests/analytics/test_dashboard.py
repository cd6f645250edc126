"""The analytics API and the admin dashboard over seeded data: the charts render as inline SVG (no CDN),
the numbers match the rollups, ranges are validated, and only staff with the permission see them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from analytics.models import DailyRollup, RollupWatermark
from notifications.models import NotificationType

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst(db):
    """A staff member's API token, holding the analytics permission (service accounts do not by default)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import _client_for

    user = get_user_model().objects.create_user("analyst", password="x" * 20, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dailyrollup"))
    return _client_for(user)


@pytest.fixture
def seeded(catalogue):
    today = timezone.now().date()
    reminder = NotificationType.objects.get(key="payment_reminder")
    report = NotificationType.objects.get(key="monthly_report")
    for back in range(7):
        day = today - timedelta(days=back)
        DailyRollup.objects.create(
            day=day,
            notification_type=reminder,
            channel="sms",
            provider="twilio",
            submitted=100,
            sent=100 - back,
            delivered=90 - back,
            failed=back,
            units=120,
            cost=Decimal("0.9000"),
            ttd_p50_ms=800,
            ttd_p95_ms=4000,
        )
        DailyRollup.objects.create(
            day=day,
            notification_type=report,
            channel="email",
            provider="mailgun",
            submitted=50,
            sent=50,
            delivered=48,
            bounced=2,
            opened=20,
            clicked=5,
            units=50,
            cost=Decimal("0.0050"),
        )
    RollupWatermark.objects.create(through=timezone.now())  # passes have run: the next folds only what changes
    return today


def test_the_dashboard_renders_its_charts_for_staff(admin_client, seeded):
    response = admin_client.get("/admin/analytics/dashboard/?days=7")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="commhub-chart"') == 4 and "cdn" not in html.lower()
    for title in ("Notifications per day", "Cost per day (USD)", "Delivery rate", "Queue depth now"):
        assert title in html
    summary = response.context["summary"]
    # every day from its rollup; today's brought up to date first (nothing changed since the last pass)
    assert summary["sent"] == sum(100 - b for b in range(0, 7)) + 7 * 50
    assert summary["cost"] == Decimal("0.9050") * 7
    assert html.count("<polyline") == 6  # five volume series and the delivery rate
    filtered = admin_client.get("/admin/analytics/dashboard/?days=7&channel=email")
    assert filtered.context["summary"]["sent"] == 350


def test_todays_figures_are_live_and_captured_sends_say_delivery_is_not_tracked(admin_client, catalogue, recipient):
    from notifications.delivery import queue_drain
    from tests.factories import submit

    for _ in range(3):
        submit()  # financial alerts, captured (the tests' SMS provider)
    queue_drain(queue="sms_critical", threads=1)
    response = admin_client.get("/admin/analytics/dashboard/?days=7")
    html = response.content.decode()
    assert response.context["summary"]["sent"] == 3  # no rollup was built: these come from the rows
    assert response.context["summary"]["delivery_rate"] == "delivery not tracked"
    assert 'id="delivery-not-tracked"' in html and "0.0%" not in html
    assert "Today is live, as of" in html


def test_the_admin_index_links_the_dashboard(admin_client, seeded):
    assert "/admin/analytics/dashboard/" in admin_client.get("/admin/").content.decode()


def test_staff_without_the_permission_cannot_see_it(client, seeded):
    user = get_user_model().objects.create_user("clerk", password="x" * 20, is_staff=True)
    client.force_login(user)
    assert client.get("/admin/analytics/dashboard/").status_code == 403


def test_the_analytics_api_reports_days_costs_and_queues(analyst, seeded):
    start = seeded - timedelta(days=6)
    daily = analyst.get(f"/api/v1/analytics/daily?from={start}&to={seeded}&type=payment_reminder")
    assert daily.status_code == 200
    days = daily.json()["days"]
    assert len(days) == 7 and days[-1]["sent"] == 100 and days[-1]["delivery_rate"] == 0.9
    assert daily.json()["rows"][0]["time_to_deliver_ms"] == {"p50": 800, "p95": 4000}
    costs = analyst.get(f"/api/v1/analytics/costs?from={start}&to={seeded}&group_by=channel").json()["results"]
    assert {r["channel"]: Decimal(str(r["cost"])) for r in costs} == {"email": Decimal("0.035"), "sms": Decimal("6.3")}
    queues = analyst.get("/api/v1/analytics/queues").json()
    assert "sms_critical" in queues["now"] and queues["samples"] == []


def test_bad_ranges_are_field_errors(analyst, seeded):
    response = analyst.get("/api/v1/analytics/daily?from=2026-05-10&to=2026-05-01")
    assert response.status_code == 400 and "from" in str(response.json())
    response = analyst.get("/api/v1/analytics/daily?from=2020-01-01&to=2026-01-01")
    assert response.status_code == 400
    response = analyst.get("/api/v1/analytics/costs?group_by=planet")
    assert response.status_code == 400 and "group_by" in str(response.json())
    response = analyst.get("/api/v1/analytics/daily?from=yesterday")
    assert response.status_code == 400 and "from" in str(response.json())


def test_the_analytics_api_needs_its_permission(api, api_without_perms, seeded):
    assert api_without_perms.get("/api/v1/analytics/daily").status_code == 403
    assert api.get("/api/v1/analytics/daily").status_code == 403  # a product backend's token sees no analytics
