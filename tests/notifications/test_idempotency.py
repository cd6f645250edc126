"""Idempotency-Key on every endpoint that creates notifications: replay, 422 on a changed body, scoped per
client, and 20 concurrent requests with one key leave one row."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.delivery import sweep
from notifications.models import IdempotencyKey, Notification
from tests.conftest import _client_for
from tests.factories import ALERT

SEND = {"recipient": "123", "type": "financial_alert", "data": ALERT}


def post(api, path, body, key):
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "rows"),
    [
        ("/api/v1/notifications/", SEND, 1),
        ("/api/v1/notifications/batch/", {"notifications": [SEND, SEND]}, 2),
        ("/api/communication/send", {"user_id": "123", "trigger_type": "financial_alert", "data": ALERT}, 1),
        (
            "/api/communication/batch",
            {"communications": [{"user_id": "123", "trigger_type": "financial_alert", "data": ALERT}]},
            1,
        ),
    ],
)
def test_the_same_key_and_body_replay_the_first_response_without_a_second_row(
    api, catalogue, recipient, path, body, rows
):
    first = post(api, path, body, "key-1")
    assert first.status_code in (200, 202)
    again = post(api, path, body, "key-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Notification.objects.count() == rows
    changed = post(api, path, {**body, "extra": "field"}, "key-1")
    assert changed.status_code == 422 and "different request" in changed.json()["detail"]
    assert Notification.objects.count() == rows


@pytest.mark.django_db
def test_keys_are_scoped_per_client(api, api_user, catalogue, recipient):
    from django.contrib.auth import get_user_model

    from notifications.management.commands.create_api_client import api_client_group

    other_user = get_user_model().objects.create_user(username="other-backend", password="x" * 20)
    other_user.groups.add(api_client_group())
    other = _client_for(other_user)
    assert post(api, "/api/v1/notifications/", SEND, "shared").status_code == 202
    assert post(other, "/api/v1/notifications/", SEND, "shared").status_code == 202
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_is_replayed_too_and_creates_nothing(api, catalogue, recipient):
    bad = {**SEND, "data": {}}
    first = post(api, "/api/v1/notifications/", bad, "k-bad")
    assert first.status_code == 400 and "amount" in first.json()["data"]
    again = post(api, "/api/v1/notifications/", bad, "k-bad")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_malformed_key_is_a_400(api, catalogue, recipient):
    assert post(api, "/api/v1/notifications/", SEND, "x" * 256).status_code == 400
    assert post(api, "/api/v1/notifications/", SEND, "   ").status_code == 400
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_key_abandoned_by_a_dead_request_is_taken_over_and_expired_keys_are_purged(
    api, api_user, catalogue, recipient
):
    long_ago = timezone.now() - timedelta(minutes=5)
    IdempotencyKey.objects.create(
        client=api_user,
        key="dead",
        fingerprint="x",
        locked_until=long_ago,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert post(api, "/api/v1/notifications/", SEND, "dead").status_code == 202  # its owner committed nothing
    IdempotencyKey.objects.filter(key="dead").update(expires_at=long_ago)
    assert sweep().expired_keys == 1 and not IdempotencyKey.objects.filter(key="dead").exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_leave_one_row(api_user, catalogue, recipient):
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        client = _client_for(api_user)
        barrier.wait()
        try:
            response = post(client, "/api/v1/notifications/", SEND, "concurrent")
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\n20 concurrent requests, one key: statuses {sorted(statuses)}; rows {Notification.objects.count()}")
    assert Notification.objects.count() == 1
    assert len(statuses) == 20 and set(statuses) <= {202, 409} and statuses.count(202) >= 1
