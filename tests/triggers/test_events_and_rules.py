"""Events in, decisions out: the events API (idempotent by id, field errors for bad events), rules in CEL that
make notifications whose trace names the event and rule version, a rule that errors on some data recorded as a
failure (never a 500), and a delayed rule that a later event cancels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.constants import Status
from notifications.models import Notification, NotificationType
from tests.factories import RecipientFactory
from triggers.models import Event, Rule, RuleRun, RuleVersion
from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

pytestmark = pytest.mark.django_db
ALERT = {"amount": "data.amount", "account": "data.account"}


def live_rule(key: str, event_name: str, type_key: str, **behaviour) -> RuleVersion:
    rule = Rule.objects.create(key=key, event_name=event_name)
    ntype = NotificationType.objects.get(key=type_key)
    return rule_version_publish(version=rule_version_draft(rule=rule, notification_type=ntype, **behaviour))


@pytest.fixture
def people(catalogue):
    return [
        RecipientFactory(external_id=f"p{i}", phone=f"+1415555{i:04d}", email=f"p{i}@example.com") for i in range(3)
    ]


def test_an_event_makes_notifications_whose_trace_names_the_event_and_the_rule_version(api, people):
    version = live_rule(
        "big-payments", "payment.received", "financial_alert", condition="data.amount_cents > 10000", data_map=ALERT
    )
    body = {
        "id": "evt_123",
        "name": "payment.received",
        "recipients": ["p0", "p1"],
        "data": {"amount": "$150.00", "amount_cents": 15000, "account": "checking"},
    }
    answer = api.post("/api/v1/events/", body, format="json")
    assert answer.status_code == 202, answer.json()
    said = answer.json()
    assert (said["id"], said["duplicate"], said["rules_matched"], said["notifications_made"]) == (
        "evt_123",
        False,
        1,
        2,
    )
    made = Notification.objects.filter(rule_run__event__uid="evt_123").order_by("recipient__external_id")
    assert [n.recipient.external_id for n in made] == ["p0", "p1"]
    first = made[0]
    assert first.decision_trace[0] == {
        "check": "cause",
        "outcome": "pass",
        "reason": "event `payment.received` #evt_123 matched rule `big-payments` v1",
    }
    assert first.data == {"amount": "$150.00", "account": "checking"} and first.status == Status.QUEUED
    assert first.rule_run.rule_version == version
    detail = api.get("/api/v1/events/evt_123/").json()
    assert sorted((r["rule"], r["version"], r["recipient"], r["outcome"]) for r in detail["runs"]) == [
        ("big-payments", 1, "p0", "sent"),
        ("big-payments", 1, "p1", "sent"),
    ]

    # the same id again is the same event: nothing made twice
    again = api.post("/api/v1/events/", body, format="json")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Event.objects.count() == 1 and Notification.objects.count() == 2
    # a small payment: the condition is false, the run says so
    small = {**body, "id": "evt_124", "data": {**body["data"], "amount_cents": 500}}
    assert api.post("/api/v1/events/", small, format="json").json()["notifications_made"] == 0
    assert RuleRun.objects.get(event__uid="evt_124").outcome == RuleRun.Outcome.SKIPPED


def test_bad_events_get_field_errors_and_a_batch_takes_the_good_ones(api, people):
    live_rule(
        "any-login", "user.login", "security_alert", recipients_from="expression", recipients_expression="data.user"
    )
    bad = [
        ({"name": "x"}, "id"),
        ({"id": "e1"}, "name"),
        ({"id": "e1", "name": "has space"}, "name"),
        ({"id": "e1", "name": "a", "occurred_at": "yesterday"}, "occurred_at"),
        ({"id": "e1", "name": "a", "recipients": "p0"}, "recipients"),
        ({"id": "e1", "name": "a", "data": [1]}, "data"),
        ({"id": "e1", "name": "a", "recipient_path": "data.nobody", "data": {}}, "recipient_path"),
        (
            {"id": "e1", "name": "a", "recipients": ["p0"], "recipient_path": "data.user", "data": {"user": "p0"}},
            "recipient_path",
        ),
        ({"id": 5, "name": "a"}, "id"),
        ({"id": "e\x00", "name": "a"}, "id"),
    ]
    for body, field in bad:
        answer = api.post("/api/v1/events/", body, format="json")
        assert answer.status_code == 400, (body, answer.status_code)
        assert field in str(answer.json()), (body, answer.json())
    assert Event.objects.count() == 0
    batch = {
        "events": [
            {"id": "b1", "name": "user.login", "data": {"user": "p0"}},
            {"id": "b2", "name": "user login"},
            "not an object",
            {"id": "b1", "name": "user.login", "data": {"user": "p0"}},
            {"id": "b3", "name": "user.login", "recipient_path": "who", "data": {"who": ["p1", "p2"], "user": "p1"}},
        ]
    }
    answer = api.post("/api/v1/events/batch/", batch, format="json")
    assert answer.status_code == 200
    assert answer.json()["summary"] == {"total": 5, "accepted": 3, "rejected": 2, "duplicates": 1}
    assert Event.objects.count() == 2 and Notification.objects.count() == 2  # b1 for p0, b3 for p1 (its expression)
    assert Event.objects.get(uid="b3").recipients == ["p1", "p2"]


def test_a_rule_that_errors_on_some_data_is_a_recorded_failure_never_a_500(api, people):
    live_rule("ratio", "usage.report", "security_alert", condition="data.used / data.quota > 0")
    answer = api.post(
        "/api/v1/events/",
        {"id": "u1", "name": "usage.report", "recipients": ["p0"], "data": {"used": 5, "quota": 0}},
        format="json",
    )
    assert answer.status_code == 202 and answer.json()["notifications_made"] == 0
    run = RuleRun.objects.get(event__uid="u1")
    assert run.outcome == RuleRun.Outcome.FAILED and "divide by zero" in run.detail
    missing = api.post("/api/v1/events/", {"id": "u2", "name": "usage.report", "recipients": ["p0"]}, format="json")
    assert missing.status_code == 202
    assert "no such member" in RuleRun.objects.get(event__uid="u2").detail
    # a type's template refusing the data is a refused run, with the field errors
    live_rule("alert", "usage.report", "financial_alert", data_map={"amount": "string(data.used)"})
    api.post(
        "/api/v1/events/",
        {"id": "u3", "name": "usage.report", "recipients": ["p0"], "data": {"used": 1, "quota": 1}},
        format="json",
    )
    refused = RuleRun.objects.get(event__uid="u3", rule_version__rule__key="alert")
    assert refused.outcome == RuleRun.Outcome.REFUSED and "account" in refused.detail


def test_a_delayed_rule_cancelled_by_a_later_event_sends_nothing(people):
    live_rule(
        "nudge",
        "user.signed_up",
        "security_alert",
        delay_seconds=24 * 3600,
        cancel_on=["profile.completed"],
        recipients_from="expression",
        recipients_expression="data.user",
    )
    now = timezone.now()
    events_ingest(
        [
            EventIn(uid="s1", name="user.signed_up", occurred_at=now, data={"user": "p0"}),
            EventIn(uid="s2", name="user.signed_up", occurred_at=now, data={"user": "p1"}),
        ]
    )
    [n0, n1] = Notification.objects.order_by("recipient__external_id")
    assert n0.status == n1.status == Status.SCHEDULED and n0.send_at == now + timedelta(hours=24)
    assert "delayed 86400 s" in n0.decision_trace[0]["reason"]
    events_ingest([EventIn(uid="c1", name="profile.completed", occurred_at=now, data={"user": "p0"})])
    n0.refresh_from_db()
    n1.refresh_from_db()
    assert n0.status == Status.CANCELLED and n1.status == Status.SCHEDULED
    run = RuleRun.objects.get(notification=n0)
    assert run.outcome == RuleRun.Outcome.CANCELLED and "profile.completed` #c1" in run.detail
    assert "event profile.completed #c1" in n0.decision_trace[-1]["reason"]


def test_a_published_version_is_frozen_and_a_change_is_the_next_version(people):
    version = live_rule("v", "a.b", "security_alert")
    with pytest.raises(Exception, match="only a draft"):
        rule_version_publish(version=version)
    second = rule_version_draft(rule=version.rule, notification_type=version.notification_type, condition="true")
    rule_version_publish(version=second)
    version.refresh_from_db()
    assert (version.state, second.number, version.rule.live) == (RuleVersion.State.RETIRED, 2, second)
    with pytest.raises(Exception, match="condition"):
        rule_version_draft(rule=version.rule, notification_type=version.notification_type, condition="data.x >")


class Message:
    """A stream message as the consumer sees one (confluent-kafka's Message has the same .value())."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


def test_poison_messages_become_dead_events_with_their_reason_and_the_good_ones_go_on(people):
    from triggers.models import DeadEvent
    from triggers.streams import batch_take

    live_rule("any", "ping", "security_alert")
    poison = [
        b"\xff\xfe not utf-8",
        b'{"id": "n\\u0000", "name": "ping"}',  # a NUL, which PostgreSQL cannot store
        b"[" * 100_000 + b"]" * 100_000,  # nested past any parser's depth
        b'["an", "array"]',
        b'{"id": "x", "name": "ping", "recipients": "p0"}',
        b"\x00\x00\x00",
    ]
    good = [
        b'{"id": "g1", "name": "ping", "recipients": ["p0"]}',
        b'{"id": "g1", "name": "ping", "recipients": ["p0"]}',
    ]
    done = batch_take([Message(v) for v in [*poison, *good]], source="kafka", where=lambda m: "t[0]@1")
    assert (done.events, done.duplicates, done.dead) == (1, 1, len(poison))
    reasons = list(DeadEvent.objects.order_by("pk").values_list("reason", flat=True))
    assert reasons[0].startswith("not JSON") and "NUL" in reasons[1] and "nested" in reasons[2]
    assert reasons[3] == "not a JSON object" and "recipients" in reasons[4]
    assert "\x00" not in "".join(DeadEvent.objects.values_list("payload", flat=True))
    assert Notification.objects.count() == 1


@pytest.fixture
def stream(settings):
    """A Redis stream on the test Redis (skipped where the tests run without one), removed afterwards."""
    import os
    import uuid

    import redis

    url = os.environ.get("COMMHUB_TEST_REDIS_URL")
    if not url:
        pytest.skip("no Redis for the tests (COMMHUB_TEST_REDIS_URL)")
    name = f"test-events-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(url)
    yield url, name, client
    client.delete(name)


def test_a_redis_stream_is_a_source_too_and_a_crash_before_the_ack_replays_nothing_twice(people, stream, monkeypatch):
    import json

    from triggers import streams
    from triggers.models import DeadEvent

    url, name, client = stream
    live_rule("pings", "ping", "security_alert")
    for i in range(30):
        client.xadd(name, {"event": json.dumps({"id": f"r{i}", "name": "ping", "recipients": [f"p{i % 3}"]})})
    client.xadd(name, {"event": b"{broken"})
    real = streams.batch_take

    def dies_after_the_first_batch_commits(*args, **kwargs):  # the process dies before XACK
        real(*args, **kwargs)
        raise KeyboardInterrupt("killed before the acknowledgement")

    monkeypatch.setattr(streams, "batch_take", dies_after_the_first_batch_commits)
    with pytest.raises(KeyboardInterrupt):
        streams.redis_consume(url=url, stream=name, group="g", consumer="c1", batch=10, stopping=lambda: False)
    assert Event.objects.count() == 10 and client.xpending(name, "g")["pending"] == 10
    monkeypatch.setattr(streams, "batch_take", real)
    done = streams.redis_consume(
        url=url, stream=name, group="g", consumer="c1", batch=10, stopping=lambda: DeadEvent.objects.exists()
    )
    assert (done.duplicates, Event.objects.count(), Notification.objects.count()) == (10, 30, 30)
    assert client.xpending(name, "g")["pending"] == 0
    assert DeadEvent.objects.get().where.startswith(f"{name}@") and "not JSON" in DeadEvent.objects.get().reason
