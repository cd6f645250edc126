"""/metrics and /health against real processes: the values move as a real worker sends, and match the
database; the provider latency a worker measured shows up on the web side's /metrics; /health names the
broker when it is down and the workers when none reports."""

import re

import pytest
from django.db.models import Count

from analytics.rollups import rollups_fold
from notifications.constants import Status
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.conftest import wait_until
from tests.factories import RecipientFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
TOKEN = "s3cret-metrics-token"
OPERATOR = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[str, float]:
    response = client.get("/metrics", **OPERATOR)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    values = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def metric(values: dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels`."""
    total = 0.0
    for series, value in values.items():
        if not series.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            total += value
    return total


def test_metrics_move_with_real_sends_and_match_the_database(client, catalogue, fake, start_worker, settings):
    settings.COMMHUB = {**settings.COMMHUB, "METRICS_CACHE_SECONDS": 0}
    for i in range(12):
        RecipientFactory(external_id=f"m{i}", phone=f"+1415555{i:04d}")
    before = scrape(client)
    results = notifications_submit_batch(
        [SubmitRequest(recipient=f"m{i}", type="payment_reminder", data=REMINDER) for i in range(12)]
    )
    ids = [r.notification.pk for r in results]
    queued = scrape(client)
    assert metric(queued, "commhub_notifications", status="queued", channel="sms", type="payment_reminder") == 12
    assert metric(queued, "commhub_queue_depth", queue="sms_daily", state="ready") == 12

    start_worker(fake, concurrency=2)
    assert wait_until(lambda: Notification.objects.filter(pk__in=ids, status=Status.SENT).count() == 12, timeout=30)
    rollups_fold()  # what the beat's pass does every COMMHUB_ROLLUP_INTERVAL: final counts come from the rollups
    after = scrape(client)
    for row in Notification.objects.values("status", "channel", "notification_type__key").annotate(n=Count("pk")):
        labels = {"status": row["status"], "channel": row["channel"], "type": row["notification_type__key"]}
        assert metric(after, "commhub_notifications", **labels) == row["n"]
    assert metric(after, "commhub_queue_depth", queue="sms_daily", state="ready") == 0
    # measured in the worker process, read on the web side
    latency = metric(after, "commhub_provider_seconds_count", provider="twilio", channel="sms") - metric(
        before, "commhub_provider_seconds_count", provider="twilio", channel="sms"
    )
    sends = metric(after, "commhub_sends_total", provider="twilio", channel="sms") - metric(
        before, "commhub_sends_total", provider="twilio", channel="sms"
    )
    assert latency == 12 and sends == 12
    assert metric(after, "commhub_cost_total", channel="sms", currency="USD") == pytest.approx(12 * 0.0075)
    assert metric(after, "commhub_worker_heartbeat_age_seconds") < 30
    assert metric(after, "commhub_api_requests_total", route="metrics", status="200") >= 2
    print(f"\n/metrics after 12 real sends: provider latency count +{latency:.0f}, sends +{sends:.0f}")

    health = client.get("/health", **OPERATOR)
    assert health.status_code == 200, health.json()
    assert health.json()["checks"]["workers"]["ok"]


def test_health_is_503_naming_the_broker_when_it_is_down(client, db, broker_down):
    from notifications.heartbeat import heartbeat_beat

    heartbeat_beat("worker@test", "sms_critical")
    response = client.get("/health", **OPERATOR)
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["database"]["ok"] is True
    assert "Error" in body["checks"]["broker"]["detail"] or "refused" in body["checks"]["broker"]["detail"]


def test_health_is_503_naming_the_workers_when_none_reports(client, db):
    assert client.get("/health").json()["checks"]["workers"] == {"ok": False}  # anyone: which part, no detail
    response = client.get("/health", **OPERATOR)
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == {
        "ok": False,
        "detail": "RuntimeError: no worker reported in the last 60s",
        "ms": response.json()["checks"]["workers"]["ms"],
    }


def test_metrics_need_the_token_unless_explicitly_opened(client, db, settings):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer caf\u00e9").status_code == 403  # not a 500
    assert client.get("/health", HTTP_AUTHORIZATION="Bearer caf\u00e9").status_code in (200, 503)
    assert client.get("/metrics", **OPERATOR).status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403  # the loopback address is not trusted (a same-host proxy)
    settings.METRICS_OPEN = True
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
