"""The inbox live, with real processes: uvicorn serving commhub over ASGI, a real Celery worker delivering
in-app notifications, and HTTP clients reading /api/v1/me/inbox/stream/ (Server-Sent Events). The worker is
another process than the server holding the connections: Redis pub/sub carries the wake-up across."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from django.conf import settings

from commhub.enduser import mint_user_token
from inbox.models import InboxItem
from notifications.services import SubmitRequest, notification_submit
from tests.conftest import free_port, web_server, worker_env
from tests.factories import RecipientFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs Redis"),
]

USER_KEY = "inbox-stream-end-user-key-" + "k" * 40
BILL = {"bill_name": "Rent", "amount": "$900", "due_date": "1 May"}


@pytest.fixture
def asgi_server(tmp_path, settings, request) -> Iterator[str]:
    """commhub under uvicorn (ASGI), against the test database and Redis (parametrize it with more env)."""
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": USER_KEY}
    port = free_port()
    extra = getattr(request, "param", {})
    env = worker_env(DEBUG="false", USER_JWT_SIGNING_KEY=USER_KEY, ALLOWED_HOSTS="127.0.0.1,localhost", **extra)
    env.setdefault("SECRET_KEY", "inbox-stream-test-" + "s" * 50)
    argv = ["uvicorn", "commhub.asgi:application", "--port", str(port), "--no-access-log"]
    with web_server(argv, port=port, env=env, log=tmp_path / "uvicorn.log") as url:
        yield url


class Stream:
    """An SSE client on its own thread: every event it reads, with the time it arrived."""

    def __init__(self, url: str, token: str, last_event_id: int | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/v1/me/inbox/stream/", headers=headers)
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()[:500]
        assert self.response.getheader("Content-Type").startswith("text/event-stream")
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event: dict = {}
        try:
            while line := self.response.readline():
                text = line.decode().rstrip("\n")
                if not text:
                    if "event" in event:
                        event["at"] = time.time()
                        event["data"] = json.loads(event.get("data", "{}"))
                        self.events.put(event)
                    event = {}
                elif not text.startswith(":"):
                    name, _, value = text.partition(": ")
                    event[name] = value
        except (OSError, ValueError, AttributeError):  # closed by the test (http.client drops its file)
            pass

    def next(self, kind: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event["event"] == kind:
                return event
        raise AssertionError(f"no {kind!r} event within {timeout} s")

    def close(self) -> None:
        self.conn.close()


def _bill(n: int) -> InboxItem:
    notification = notification_submit(
        SubmitRequest(recipient="dana", type="payment_reminder", channel="in_app", data={**BILL, "amount": f"${n}"})
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (item := InboxItem.objects.filter(notification_id=notification.pk).first()) is not None:
            return item
        time.sleep(0.02)
    raise AssertionError("the worker did not deliver the in-app notification")


def test_a_delivered_item_reaches_a_connected_client_within_a_second(catalogue, asgi_server, start_worker):
    RecipientFactory(external_id="dana")
    start_worker(queues="maintenance,in_app_daily")
    stream = Stream(asgi_server, mint_user_token("dana"))
    assert stream.next("unread")["data"] == {"unread": 0}  # a fresh connection starts with the badge
    lags = []
    for n in range(3):
        item = _bill(n)
        event = stream.next("new")
        assert event["data"]["item"]["id"] == item.pk and event["data"]["unread"] == n + 1
        assert event["data"]["item"]["title"] == "Rent is due 1 May"
        lags.append(event["at"] - datetime.fromisoformat(event["data"]["item"]["created_at"]).timestamp())
    print(f"\ndelivered by the worker -> on the client: {', '.join(f'{lag * 1000:.0f} ms' for lag in lags)}")
    assert max(lags) < 1.0
    stream.close()


def test_a_read_on_one_device_reaches_the_other_and_a_reconnect_misses_nothing(catalogue, asgi_server, start_worker):
    RecipientFactory(external_id="dana")
    start_worker(queues="maintenance,in_app_daily")
    token = mint_user_token("dana")
    phone, laptop = Stream(asgi_server, token), Stream(asgi_server, token)
    phone.next("unread"), laptop.next("unread")
    item = _bill(1)
    seen_on_laptop = laptop.next("new")
    phone.next("new")
    laptop.close()  # the laptop goes to sleep ...

    read_at = time.time()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    assert api.post(f"{asgi_server}/api/v1/me/inbox/{item.pk}/read/").json() == {"changed": 1, "unread": 0}
    on_phone = phone.next("read")
    assert on_phone["data"]["item"]["id"] == item.pk and on_phone["data"]["unread"] == 0
    assert on_phone["at"] - read_at < 1.0
    assert api.post(f"{asgi_server}/api/v1/me/inbox/{item.pk}/archive/").status_code == 200
    second = _bill(2)

    # ... and wakes up: it reconnects with the last event it saw and gets everything after it, in order
    laptop = Stream(asgi_server, token, last_event_id=int(seen_on_laptop["id"]))
    missed = [laptop.next(kind) for kind in ("read", "archived", "new")]
    assert [e["data"]["item"]["id"] for e in missed] == [item.pk, item.pk, second.pk]
    assert [int(e["id"]) for e in missed] == sorted(int(e["id"]) for e in missed)
    assert laptop.events.empty() or laptop.events.get_nowait()["event"] != "unread"  # no fresh start: a resume
    phone.close(), laptop.close()


def test_the_stream_takes_only_an_end_user_token(asgi_server, db):
    answer = requests.get(f"{asgi_server}/api/v1/me/inbox/stream/", timeout=5)
    assert answer.status_code == 401
    bad = requests.get(
        f"{asgi_server}/api/v1/me/inbox/stream/",
        headers={"Authorization": f"Bearer {mint_user_token('dana')}", "Last-Event-ID": "yesterday"},
        timeout=5,
    )
    assert bad.status_code == 400 and "last_event_id" in bad.json()


@pytest.mark.parametrize("asgi_server", [{"COMMHUB_REALTIME_REDIS_URL": "redis://127.0.0.1:1/0"}], indirect=True)
def test_without_its_redis_the_server_streams_from_the_database(catalogue, asgi_server, start_worker):
    """The server cannot reach its pub/sub Redis: its streams look in the database twice a second instead."""
    RecipientFactory(external_id="dana")
    start_worker(queues="maintenance,in_app_daily")
    stream = Stream(asgi_server, mint_user_token("dana"))
    stream.next("unread")
    item = _bill(1)
    event = stream.next("new", timeout=5)
    assert event["data"]["item"]["id"] == item.pk
    assert event["at"] - datetime.fromisoformat(event["data"]["item"]["created_at"]).timestamp() < 1.5
    stream.close()
