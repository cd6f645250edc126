"""Bulk marketing email for the batch-sending tests: consenting readers, lessons whose data a batch could get
wrong (escaping, whitespace, a merge-field look-alike, non-ASCII, an absent url), and the ESP's tracking webhook."""

from __future__ import annotations

import base64
import json
from typing import Any

from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from preferences.models import Recipient
from tests.factories import RecipientFactory, grant_marketing, submit

LESSONS = [
    {"title": "Budgeting 101", "summary": "Start with the 50/30/20 rule.", "url": "https://example.com/1"},
    {"title": "Fees & <charges>", "summary": "Read 'the' \"fine\" print.", "url": "https://example.com/a?b=1&c=2"},
    {"title": "Sparen für Anfänger 🎉", "summary": "Línea\nnueva\n\n  indented"},
    {"title": "  spaced   title ", "summary": "x", "url": "https://example.com/3"},
    {"title": "Merge %recipient.m0% look-alike", "summary": "y"},
    {"title": "Plain", "summary": "", "url": ""},
]


def consenting_readers(count: int) -> list[Recipient]:
    """`count` recipients, each with their own address, who agreed to marketing email."""
    people = []
    for i in range(count):
        person = RecipientFactory(external_id=f"reader-{i}", email=f"reader-{i}@example.com")
        grant_marketing(person, "email")
        people.append(person)
    return people


def submit_lessons(readers: list[Recipient]) -> list[Notification]:
    """One lesson (educational_content, a bulk tier) to each reader, the lessons in turn."""
    rows = []
    for i, person in enumerate(readers):
        n = submit(recipient=person.external_id, type="educational_content", data=LESSONS[i % len(LESSONS)])
        assert n.status == Status.QUEUED, n.decision_trace
        rows.append(n)
    return rows


WEBHOOK_SECRET = ("anymail-user", "anymail-pass")  # the ESP's basic auth (ANYMAIL["WEBHOOK_SECRET"])


def post_tracking_event(client: Any, esp: str, event: dict) -> Any:
    """`event` posted to anymail's tracking webhook for `esp`, as the ESP posts it (JSON, basic auth)."""
    auth = "Basic " + base64.b64encode(":".join(WEBHOOK_SECRET).encode()).decode()
    return client.post(
        f"/webhooks/anymail/{esp}/tracking/",
        json.dumps(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )


def assert_failed_alone(rows: list[Notification], address: str) -> None:
    """The notification to `address` failed; every other of `rows` was sent."""
    statuses = dict(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("recipient__email", "status"))
    assert statuses.pop(address) == Status.FAILED
    assert set(statuses.values()) == {Status.SENT}


def use_esp(settings: Any, esp_settings: dict) -> None:
    """Email through the ESP `esp_settings` names (tests.conftest's), its tracking webhook served."""
    for name, value in esp_settings.items():
        setattr(settings, name, value)
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ":".join(WEBHOOK_SECRET)}


def sent_both_ways(fake: Any, api: str, settings: Any, readers: list[Recipient], received: Any) -> tuple[dict, dict]:
    """`received(fake)` after the lessons went out batched, then after the same lessons went out again one
    message per call."""
    submit_lessons(readers)
    queue_drain(queue="email_education")
    assert any(r.batch > 1 for r in fake.sent(api))
    batched = received(fake)
    fake.reset()
    settings.COMMHUB = {**settings.COMMHUB, "ESP_BATCH_SIZE": 0}
    submit_lessons(readers)
    queue_drain(queue="email_education")
    assert fake.sent(api) and all(r.batch == 1 for r in fake.sent(api))
    return batched, received(fake)
