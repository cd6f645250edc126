"""Topics and broadcasts: a marketing broadcast to a topic whose subscribers differ in consent, preferences and
suppressions; the dry run's counts equal what the send then does; pause, resume and cancel hold between chunks;
a chunk and its cursor commit together."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count

from broadcasts import services
from broadcasts.models import Broadcast, Topic
from notifications.models import Notification, NotificationType
from preferences.services import preference_set, suppression_add
from tests.factories import RecipientFactory, grant_marketing

pytestmark = pytest.mark.django_db
INSIGHT = {"insight": "Data skills are in demand."}


@pytest.fixture
def topic(catalogue):
    topic = Topic.objects.create(key="careers", name="Career news")
    people = []
    for i in range(40):
        person = RecipientFactory(external_id=f"c{i}", email=f"c{i}@example.com", timezone="UTC")
        people.append(person)
        if i % 4 != 0:  # a quarter never agreed to marketing email
            grant_marketing(person, "email")
    preference_set(recipient=people[1], enabled=False, channel="email", category="careers")
    suppression_add(channel="email", address="c2@example.com", reason="bounce")
    services.topic_subscribe(topic=topic, recipients=people[:36])  # four are not subscribed
    RecipientFactory(external_id="outsider", email="out@example.com")
    return topic


def broadcast(topic: Topic, **fields) -> Broadcast:
    return Broadcast.objects.create(
        name="Careers digest",
        notification_type=NotificationType.objects.get(key="career_insights"),
        audience=Broadcast.Audience.TOPIC,
        topic=topic,
        data=INSIGHT,
        **fields,
    )


def test_the_dry_run_counts_exactly_what_the_send_then_does(topic, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 10)  # several chunks
    b = broadcast(topic)
    said = services.broadcast_dry_run(broadcast=b)
    assert Notification.objects.count() == 0  # nothing kept
    assert said["recipients"] == 36
    refused_consent = len([i for i in range(36) if i % 4 == 0])
    assert said["refused"] == {"no_consent": refused_consent, "preference_off": 1, "suppressed_bounce": 1}
    assert (said["accepted"], said["invalid"]) == (36 - refused_consent - 2, 0)
    assert said["cost"] == {"email": {"USD": str(Decimal("0.0001") * said["accepted"]).ljust(8, "0")}}

    services.broadcast_start(broadcast=b)
    while services.broadcasts_advance(time_budget=30):
        pass
    b.refresh_from_db()
    assert b.state == Broadcast.State.DONE and b.processed == b.audience_size == 36
    assert (b.accepted, b.refused, b.invalid) == (said["accepted"], said["refused"], said["invalid"])
    made = Notification.objects.values("recipient__external_id").annotate(n=Count("pk"))
    assert made.count() == 36 and {m["n"] for m in made} == {1}
    assert not Notification.objects.filter(recipient__external_id__in=["c36", "outsider"]).exists()
    first = Notification.objects.filter(recipient__external_id="c3").get()
    assert first.decision_trace[0]["reason"] == f"broadcast `Careers digest` #{b.pk}"


def test_pause_resume_and_cancel_hold_between_chunks(topic, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 10)
    b = services.broadcast_start(broadcast=broadcast(topic))
    assert services._chunk(b.pk) is True  # one chunk, then staff pause it
    services.broadcast_move(broadcast=b, move="pause")
    assert services.broadcasts_advance(time_budget=30) == 0
    assert Notification.objects.count() == 10
    with pytest.raises(Exception, match="cannot pause"):
        services.broadcast_move(broadcast=b, move="pause")
    services.broadcast_move(broadcast=b, move="resume")
    assert services._chunk(b.pk) is True
    services.broadcast_move(broadcast=b, move="cancel")
    assert services.broadcasts_advance(time_budget=30) == 0
    b.refresh_from_db()
    assert (b.state, b.processed, Notification.objects.count()) == (Broadcast.State.CANCELLED, 20, 20)
    with pytest.raises(Exception, match="only a draft starts"):
        services.broadcast_start(broadcast=b)


def test_a_failed_chunk_moves_no_cursor_and_sends_nobody_twice(topic, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 10)
    b = services.broadcast_start(broadcast=broadcast(topic))
    real = services.notifications_submit_batch

    def dies_after_writing(requests):
        real(requests)
        raise RuntimeError("worker killed mid-chunk")

    monkeypatch.setattr(services, "notifications_submit_batch", dies_after_writing)
    with pytest.raises(RuntimeError):
        services._chunk(b.pk)
    b.refresh_from_db()
    assert (b.cursor, b.processed, Notification.objects.count()) == (0, 0, 0)  # the chunk and its cursor: neither
    monkeypatch.setattr(services, "notifications_submit_batch", real)
    while services.broadcasts_advance(time_budget=30):
        pass
    made = Notification.objects.values("recipient_id").annotate(n=Count("pk"))
    assert made.count() == 36 and {m["n"] for m in made} == {1}


def test_the_topics_api_and_the_broadcasts_api(api, topic):
    assert api.get("/api/v1/topics/careers/").json()["subscribers"] == 36
    added = api.post("/api/v1/topics/careers/subscribers/", {"recipients": ["outsider", "c0"]}, format="json")
    assert added.status_code == 200 and added.json()["changed"] == 1
    unknown = api.post("/api/v1/topics/careers/subscribers/", {"recipients": ["nobody"]}, format="json")
    assert unknown.status_code == 400 and "nobody" in str(unknown.json())
    numbers = api.post("/api/v1/topics/careers/subscribers/", {"recipients": [7]}, format="json")
    assert numbers.status_code == 400 and "string" in str(numbers.json())
    assert api.post("/api/v1/topics/", {"key": "x", "name": "X", "self_service": 0}, format="json").status_code == 400
    gone = api.post("/api/v1/topics/careers/subscribers/remove/", {"recipients": ["outsider"]}, format="json")
    assert gone.json()["changed"] == 1
    bad = api.post("/api/v1/broadcasts/", {"name": "x", "type": "career_insights", "audience": "topic"}, format="json")
    assert bad.status_code == 400 and "topic" in str(bad.json())
    fax = {"name": "x", "type": "career_insights", "audience": "all", "channel": "fax"}
    refused = api.post("/api/v1/broadcasts/", fax, format="json")
    assert refused.status_code == 400 and "channel" in str(refused.json()), refused.json()
    made = api.post(
        "/api/v1/broadcasts/",
        {"name": "API", "type": "career_insights", "audience": "topic", "topic": "careers", "data": INSIGHT},
        format="json",
    )
    assert made.status_code == 201, made.json()
    pk = made.json()["id"]
    assert api.post(f"/api/v1/broadcasts/{pk}/pause/").status_code == 409
    started = api.post(f"/api/v1/broadcasts/{pk}/start/")
    assert started.status_code == 202 and started.json()["state"] == "running" and started.json()["audience_size"] == 36
    assert api.post(f"/api/v1/broadcasts/{pk}/cancel/").json()["state"] == "cancelled"
    # the broadcast's record names the topic: it stays (409), where a topic nobody was sent to goes
    from django.contrib.auth import get_user_model

    from tests.conftest import _client_for

    operator = _client_for(get_user_model().objects.create_superuser("ops", "ops@example.com", "x" * 20))
    kept = operator.delete("/api/v1/topics/careers/")
    assert kept.status_code == 409 and "broadcasts were sent to it" in str(kept.json())
    Topic.objects.create(key="unused", name="Unused")
    assert operator.delete("/api/v1/topics/unused/").status_code == 204


def test_people_follow_and_leave_self_service_topics_through_me(user_jwt, topic):
    from tests.conftest import client_for

    Topic.objects.create(key="internal", name="Staff only", self_service=False)
    me = client_for("c37")  # not subscribed yet
    listed = me.get("/api/v1/me/topics/").json()
    assert [(t["key"], t["subscribed"]) for t in listed] == [("careers", False)]  # the staff-only topic is not offered
    assert me.post("/api/v1/me/topics/careers/subscription/").json()["subscribed"] is True
    assert me.post("/api/v1/me/topics/careers/subscription/").json()["subscribed"] is True  # twice: the same
    assert me.post("/api/v1/me/topics/internal/subscription/").status_code == 404
    assert api_subscribers(topic) == 37
    assert me.delete("/api/v1/me/topics/careers/subscription/").json()["subscribed"] is False
    assert api_subscribers(topic) == 36
    assert client_for("never-seen").get("/api/v1/me/topics/").json()[0]["subscribed"] is False


def api_subscribers(topic: Topic) -> int:
    from broadcasts.models import TopicSubscription

    return TopicSubscription.objects.filter(topic=topic).count()


def test_a_rule_can_send_to_a_topic_as_a_broadcast(topic):
    from django.utils import timezone

    from triggers.models import Rule, RuleRun
    from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

    rule = Rule.objects.create(key="new-jobs", event_name="jobs.posted")
    rule_version_publish(
        version=rule_version_draft(
            rule=rule,
            notification_type=NotificationType.objects.get(key="career_insights"),
            recipients_from="topic",
            recipients_topic="careers",
            data_map={"insight": '"New roles: " + string(data.count)'},
        )
    )
    missing = Rule.objects.create(key="nowhere", event_name="jobs.posted")
    rule_version_publish(
        version=rule_version_draft(
            rule=missing,
            notification_type=NotificationType.objects.get(key="career_insights"),
            recipients_from="topic",
            recipients_topic="no-such-topic",
        )
    )
    events_ingest([EventIn(uid="jobs-1", name="jobs.posted", occurred_at=timezone.now(), data={"count": 12})])
    sent = RuleRun.objects.get(rule_version__rule=rule)
    assert sent.outcome == "broadcast" and "to topic careers (36 subscribers)" in sent.detail
    assert RuleRun.objects.get(rule_version__rule=missing).detail == "no topic 'no-such-topic'"
    while services.broadcasts_advance(time_budget=30):
        pass
    made = Notification.objects.filter(data__insight="New roles: 12")
    assert made.count() == 36 and made.filter(status="suppressed").count() == 11  # one each; refused ones kept
    assert "rule new-jobs v1, event jobs.posted #jobs-1" in made.first().decision_trace[0]["reason"]
