"""The three health probes: /health/live answers while the process does; /health/ready (what a load balancer
uses) needs the database and the broker but no worker, so restarting the workers keeps the web in rotation;
/health (monitoring) needs the workers too and names what is down."""

from __future__ import annotations

import pytest

from notifications.heartbeat import heartbeat_beat

pytestmark = pytest.mark.django_db
OPERATOR = {"HTTP_AUTHORIZATION": "Bearer probe-test-metrics-token"}


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = "probe-test-metrics-token"


def test_with_every_worker_stopped_the_web_is_ready_and_health_names_the_workers(client):
    live, ready, full = (
        client.get("/health/live"),
        client.get("/health/ready", **OPERATOR),
        client.get("/health", **OPERATOR),
    )
    assert live.status_code == 200 and live.json()["status"] == "ok"
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {"database", "broker"}
    assert full.status_code == 503 and full.json()["checks"]["workers"]["ok"] is False
    assert "no worker reported" in full.json()["checks"]["workers"]["detail"]
    heartbeat_beat("worker@probe", "sms_critical")
    assert client.get("/health").status_code == 200


def test_with_the_broker_down_the_web_is_not_ready_but_still_live(client, broker_down):
    heartbeat_beat("worker@probe", "sms_critical")
    ready = client.get("/health/ready", **OPERATOR)
    assert ready.status_code == 503 and ready.json()["checks"]["broker"]["ok"] is False
    assert ready.json()["checks"]["database"]["ok"] is True
    assert client.get("/health/ready").json()["checks"]["broker"] == {"ok": False}  # no detail without the token
    assert client.get("/health/live").status_code == 200
