"""The in-app channel and the inbox: a notification sent in-app through the real drain becomes an item in its
recipient's inbox, rendered from the template's in-app parts; the person lists, counts, reads and archives their
items with their end-user token, and reads are provider feedback (the notification is delivered, then opened)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.maintenance import retention_purge
from commhub.enduser import mint_user_token
from costs.models import CostEntry
from inbox.in_app import InboxProvider
from inbox.models import InboxEvent, InboxItem
from notifications.channels.base import OutboundMessage
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, ProviderEvent
from tests.conftest import client_for
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db

BILL = {"bill_name": "Rent", "amount": "$900", "due_date": "1 May", "pay_url": "https://app.example.com/pay/7"}


def deliver(recipient: str = "dana", **kwargs) -> Notification:
    n = submit(recipient=recipient, type="payment_reminder", channel="in_app", data=kwargs.pop("data", BILL), **kwargs)
    assert n.status == Status.QUEUED, n.decision_trace
    result = queue_drain(queue=n.queue, threads=1)
    assert result.sent >= 1
    n.refresh_from_db()
    return n


@pytest.fixture
def dana(catalogue, user_jwt):
    return RecipientFactory(external_id="dana", email="", phone="")  # no email, no phone: the inbox still reaches


def test_an_in_app_notification_becomes_an_inbox_item_rendered_from_its_in_app_parts(dana):
    n = deliver()
    assert n.status == Status.SENT and n.provider == "inbox" and n.queue == "in_app_daily"
    item = InboxItem.objects.get(notification=n)
    assert (item.recipient, item.title, item.body) == (dana, "Rent is due 1 May", "Rent of $900 is due 1 May.")
    assert (item.action_url, item.action_label, item.category) == (
        "https://app.example.com/pay/7",
        "Pay now",
        "reminders",
    )
    assert n.provider_message_id == f"inbox-{item.pk}" and item.read_at is None
    assert CostEntry.objects.get(notification=n).amount == 0  # priced (at zero) like any channel


def test_delivering_the_same_notification_again_finds_its_item(dana):
    n = deliver()
    again = InboxProvider().send(
        OutboundMessage(notification_id=str(n.pk), channel="in_app", to="dana", body="other", title="other")
    )
    assert again.provider_message_id == n.provider_message_id  # a send repeated after a crash: no second item
    assert InboxItem.objects.filter(recipient=dana).count() == 1


def test_a_person_pages_through_their_inbox_newest_first_and_filters_it(dana):
    ids = [InboxItem.objects.get(notification=deliver(data={**BILL, "bill_name": f"Bill {i}"})).pk for i in range(5)]
    other = RecipientFactory(external_id="erin")
    deliver(recipient="erin")
    me = client_for("dana")
    first = me.get("/api/v1/me/inbox/", {"page_size": 2}).json()
    assert [i["id"] for i in first["results"]] == ids[::-1][:2] and first["previous"] is None
    second = me.get(first["next"]).json()
    third = me.get(second["next"]).json()
    assert [i["id"] for i in second["results"] + third["results"]] == ids[::-1][2:] and third["next"] is None
    assert first["results"][0]["title"] == "Bill 4 is due 1 May"
    assert me.get("/api/v1/me/inbox/unread-count/").json() == {"unread": 5}
    assert me.post(f"/api/v1/me/inbox/{ids[0]}/read/").json() == {"changed": 1, "unread": 4}
    assert me.post(f"/api/v1/me/inbox/{ids[1]}/archive/").json() == {"changed": 1, "unread": 3}
    unread = [i["id"] for i in me.get("/api/v1/me/inbox/", {"unread": "true"}).json()["results"]]
    assert unread == [ids[4], ids[3], ids[2]]
    assert [i["id"] for i in me.get("/api/v1/me/inbox/", {"unread": "false"}).json()["results"]] == [ids[0]]
    assert [i["id"] for i in me.get("/api/v1/me/inbox/", {"archived": "true"}).json()["results"]] == [ids[1]]
    assert me.get("/api/v1/me/inbox/", {"category": "alerts"}).json()["results"] == []
    assert me.post(f"/api/v1/me/inbox/{ids[1]}/unarchive/").json() == {"changed": 1, "unread": 4}
    assert me.post(f"/api/v1/me/inbox/{ids[0]}/unread/").json() == {"changed": 1, "unread": 5}
    assert me.post("/api/v1/me/inbox/read-all/", {"ids": ids[:2]}, format="json").json() == {"changed": 2, "unread": 3}
    assert me.post("/api/v1/me/inbox/read-all/", {}, format="json").json() == {"changed": 3, "unread": 0}
    # erin's item is not dana's: not listed, not readable, not markable (404, as an id that does not exist)
    erins = InboxItem.objects.get(recipient=other)
    assert erins.pk not in [i["id"] for i in me.get("/api/v1/me/inbox/", {"page_size": 100}).json()["results"]]
    assert me.get(f"/api/v1/me/inbox/{erins.pk}/").status_code == 404
    assert me.post(f"/api/v1/me/inbox/{erins.pk}/read/").status_code == 404
    assert me.post("/api/v1/me/inbox/read-all/", {"ids": [erins.pk]}, format="json").json()["changed"] == 0
    assert InboxItem.objects.get(pk=erins.pk).read_at is None


def test_reads_are_feedback_delivered_then_opened_once(dana):
    n = deliver()
    item = InboxItem.objects.get(notification=n)
    me = client_for("dana")
    assert me.post("/api/v1/me/inbox/seen/", {}, format="json").json() == {"changed": 1, "unread": 1}
    n.refresh_from_db()
    assert n.status == Status.DELIVERED and n.delivered_at is not None
    for _ in range(2):  # read, unread, read again: opened once
        me.post(f"/api/v1/me/inbox/{item.pk}/read/")
        me.post(f"/api/v1/me/inbox/{item.pk}/unread/")
    me.post(f"/api/v1/me/inbox/{item.pk}/read/")
    events = sorted(ProviderEvent.objects.filter(notification=n).values_list("event_type", flat=True))
    assert events == ["delivered", "opened"]
    item.refresh_from_db()
    assert item.seen_at is not None and item.read_at is not None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/me/inbox/?unread=maybe", None),
        ("get", "/api/v1/me/inbox/?archived=2", None),
        ("get", "/api/v1/me/inbox/?cursor=not-a-cursor", None),
        ("post", "/api/v1/me/inbox/read-all/", {"ids": ["x"]}),
        ("post", "/api/v1/me/inbox/read-all/", {"category": ["reminders"]}),
        ("post", "/api/v1/me/inbox/seen/", {"ids": list(range(1, 502))}),
    ],
)
def test_bad_input_is_a_field_level_4xx(dana, method, path, body):
    response = getattr(client_for("dana"), method)(path, body, format="json") if body else client_for("dana").get(path)
    assert 400 <= response.status_code < 500, response.content
    assert response.status_code != 404 or "cursor" in path


def test_only_end_user_tokens_reach_the_inbox(dana, api):
    deliver()
    assert APIClient().get("/api/v1/me/inbox/").status_code == 401
    assert api.get("/api/v1/me/inbox/unread-count/").status_code in (401, 403)


def test_a_person_who_turned_in_app_off_gets_no_item(dana):
    from preferences.services import preference_set

    preference_set(recipient=dana, enabled=False, channel="in_app", category="reminders")
    n = submit(recipient="dana", type="payment_reminder", channel="in_app", data=BILL)
    assert n.status == Status.SUPPRESSED and n.decision_trace[-1]["check"] == "preference"
    assert not InboxItem.objects.filter(recipient=dana).exists()


def test_the_stream_under_a_wsgi_server_polls_the_database_and_resumes_from_an_event_id(dana, settings):
    """The embedded mode (runserver, no Redis): the same URL streams from a thread, looking twice a second."""
    settings.COMMHUB = {**settings.COMMHUB, "REALTIME_REDIS_URL": ""}
    me = client_for("dana")
    frames = iter(me.get("/api/v1/me/inbox/stream/").streaming_content)
    assert next(frames) == b"retry: 2000\n\n"
    assert next(frames) == b'event: unread\ndata: {"unread": 0}\n\n'
    n = deliver()
    new = next(frames).decode()
    item = InboxItem.objects.get(notification=n)
    assert new.startswith("id: ") and "event: new\n" in new and f'"id": {item.pk}' in new
    last = int(new[4 : new.index("\n")])
    me.post(f"/api/v1/me/inbox/{item.pk}/read/")
    resumed = iter(me.get("/api/v1/me/inbox/stream/", HTTP_LAST_EVENT_ID=str(last)).streaming_content)
    assert next(resumed) == b"retry: 2000\n\n"
    assert "event: read\n" in next(resumed).decode()  # no fresh start: straight to what it missed


def test_the_widget_origins_get_cors_answers_on_the_end_user_api_only(dana, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization"}
    client = APIClient()
    allowed = client.options("/api/v1/me/inbox/unread-count/", HTTP_ORIGIN="https://app.example.com", **preflight)
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed  # a bearer token, never cookies
    other = client.options("/api/v1/me/inbox/unread-count/", HTTP_ORIGIN="https://evil.example", **preflight)
    assert "Access-Control-Allow-Origin" not in other
    staff_api = client.options("/api/v1/notifications/", HTTP_ORIGIN="https://app.example.com", **preflight)
    assert "Access-Control-Allow-Origin" not in staff_api  # the service API is for backends, not browsers
    answer = client_for("dana").get("/api/v1/me/inbox/unread-count/", HTTP_ORIGIN="https://app.example.com")
    assert answer.json() == {"unread": 0} and answer["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_a_person_of_another_organisation_with_the_same_id_sees_only_their_own_inbox(dana, settings):
    """Two organisations each have a "dana": each one's token, list and stream reach their own items only."""
    from commhub import tenancy
    from orgs.services import organisation_create

    settings.COMMHUB = {**settings.COMMHUB, "REALTIME_REDIS_URL": ""}
    settings.USER_JWT = {
        **settings.USER_JWT,
        "ORGANISATION_KEYS": {"beta": "beta-organisation-end-user-key-" + "b" * 40},
    }
    beta, _ = organisation_create(slug="beta", name="Beta")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="dana", email="", phone="")
    beta_dana = APIClient()
    beta_dana.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token('dana', organisation='beta')}")
    frames = iter(beta_dana.get("/api/v1/me/inbox/stream/").streaming_content)
    next(frames), next(frames)  # retry, unread
    ours = InboxItem.objects.get(notification=deliver(data={**BILL, "bill_name": "Default rent"}))
    with tenancy.within(beta.pk):
        theirs = InboxItem.objects.get(notification=deliver(data={**BILL, "bill_name": "Beta rent"}))
    first = next(frames).decode()
    assert f'"id": {theirs.pk}' in first and "Default rent" not in first  # the default dana's item never came
    listed = [i["id"] for i in beta_dana.get("/api/v1/me/inbox/").json()["results"]]
    assert listed == [theirs.pk]
    assert beta_dana.post(f"/api/v1/me/inbox/{ours.pk}/read/").status_code == 404
    assert [i["id"] for i in client_for("dana").get("/api/v1/me/inbox/").json()["results"]] == [ours.pk]


def test_a_privacy_export_holds_the_inbox_and_an_erasure_deletes_it(dana, api):
    from django.contrib.auth.models import Permission

    from commhub.permissions import clear_permission_cache
    from inbox.models import InboxEvent

    item = InboxItem.objects.get(notification=deliver())
    client_for("dana").post(f"/api/v1/me/inbox/{item.pk}/read/")
    exported = api.get("/api/v1/recipients/dana/export/").json()
    assert [(i["id"], i["title"], i["read_at"] is not None) for i in exported["inbox"]] == [
        (item.pk, "Rent is due 1 May", True)
    ]
    api.user.user_permissions.add(Permission.objects.get(codename="erase_recipient"))
    clear_permission_cache()
    erased = api.post("/api/v1/recipients/dana/erase/")
    assert erased.status_code == 200 and erased.json()["inbox_items_deleted"] == 1
    assert not InboxItem.objects.filter(pk=item.pk).exists() and not InboxEvent.objects.filter(item_id=item.pk).exists()
    assert Notification.objects.filter(pk=item.notification_id).exists()  # the skeleton stays, for the counts


def test_the_retention_job_drops_the_stream_log_past_its_days_and_keeps_the_items(dana, settings):
    items = [InboxItem.objects.get(notification=deliver()) for _ in range(3)]
    client_for("dana").post(f"/api/v1/me/inbox/{items[0].pk}/read/")
    events = list(InboxEvent.objects.order_by("id"))
    assert [e.kind for e in events] == ["new", "new", "new", "read"]
    old = timezone.now() - timedelta(days=8)
    InboxEvent.objects.filter(pk__in=[e.pk for e in events[:2]]).update(created_at=old)
    settings.COMMHUB = {**settings.COMMHUB, "INBOX_EVENT_RETENTION_DAYS": 7}
    assert retention_purge(now=timezone.now()).inbox_events == 2
    assert list(InboxEvent.objects.order_by("id").values_list("pk", flat=True)) == [e.pk for e in events[2:]]
    assert InboxItem.objects.filter(recipient=dana).count() == 3  # the inbox itself is untouched
    assert retention_purge(now=timezone.now()).inbox_events == 0
