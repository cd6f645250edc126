"""A type that digests: its messages, however they are submitted (single sends, batches, rules), are taken as
`digested` and gathered per recipient (and key) into a window; when it closes, one notification of the type's
`digest_type` lists them. Refused messages are not gathered; a digesting type cannot be scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from analytics.models import DailyRollup
from analytics.rollups.incremental import rollups_fold
from notifications.models import Notification
from preferences.models import Preference
from preferences.privacy import recipient_erase
from tests.conftest import _client_for
from tests.factories import RecipientFactory
from triggers.digests import digests_flush
from triggers.models import DigestItem, DigestWindow

pytestmark = pytest.mark.django_db
START = datetime(2026, 12, 1, 10, tzinfo=UTC)


def bill(name: str, account: str = "checking") -> dict:
    return {"bill_name": name, "amount": "$10", "due_date": "1 May", "account": account, "title": f"{name} is due"}


@pytest.fixture
def digesting(catalogue):
    ntype = catalogue["payment_reminder"]
    ntype.digest, ntype.digest_minutes, ntype.digest_max_items = "sliding", 30, 3
    ntype.digest_type = catalogue["activity_digest"]
    ntype.full_clean()
    ntype.save()
    return ntype


def test_single_sends_and_a_batch_gather_into_one_digest_sent_once(api_user, digesting):
    RecipientFactory(external_id="123", email="dana@example.com", timezone="America/New_York")
    RecipientFactory(external_id="456", email="sam@example.com")
    Preference.objects.create(recipient=RecipientFactory(external_id="off", email="off@example.com"), enabled=False)
    with time_machine.travel(START, tick=False):
        api = _client_for(api_user)  # a token issued at the travelled time
        singles = [
            api.post(
                "/api/v1/notifications/",
                {"recipient": "123", "type": "payment_reminder", "channel": "email", "data": bill(name)},
                format="json",
            )
            for name in ("Rent", "Water")
        ]
        batch = api.post(
            "/api/v1/notifications/batch/",
            {
                "notifications": [
                    {"recipient": r, "type": "payment_reminder", "channel": "email", "data": bill(n)}
                    for r, n in (("123", "Power"), ("123", "Phone"), ("123", "Gym"), ("456", "Rent"), ("off", "Rent"))
                ]
            },
            format="json",
        )
    assert [s.status_code for s in singles] == [202, 202] and batch.status_code in (200, 202, 207), batch.content
    assert {s.json()["status"] for s in singles} == {"digested"}
    assert Notification.objects.filter(status="digested").count() == 6
    refused = Notification.objects.get(recipient__external_id="off")
    assert refused.status == "suppressed" and not DigestItem.objects.filter(notification=refused).exists()
    dana = DigestWindow.objects.get(recipient="123")
    assert (dana.notification_type_id, dana.items_count, dana.closes_at) == (
        digesting.pk,
        5,
        START + timedelta(minutes=30),
    )
    trace = Notification.objects.filter(recipient__external_id="123").first().decision_trace
    assert trace[-1]["check"] == "digest" and "sliding digest (30 min" in trace[-1]["reason"]

    assert digests_flush(now=START + timedelta(minutes=29)) == 0
    assert digests_flush(now=START + timedelta(minutes=31)) == 2
    assert digests_flush(now=START + timedelta(minutes=32)) == 0  # sent once
    sent = Notification.objects.get(recipient__external_id="123", notification_type__key="activity_digest")
    assert sent.status == "queued"
    assert (sent.data["count"], sent.data["more"]) == (5, 2)
    assert [item["title"] for item in sent.data["items"]] == ["Rent is due", "Water is due", "Power is due"]
    assert "digest of 5 `payment_reminder` message(s)" in sent.decision_trace[0]["reason"]
    assert DigestWindow.objects.get(recipient="123").notification == sent
    # a message after the send opens the next window
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        api = _client_for(api_user)
        again = api.post(
            "/api/v1/notifications/",
            {"recipient": "123", "type": "payment_reminder", "channel": "email", "data": bill("Tax")},
            format="json",
        )
    assert again.status_code == 202
    assert DigestWindow.objects.get(recipient="123", state="open").items_count == 1


def test_a_digest_key_splits_a_recipients_messages_and_weekly_windows_close_locally(api_user, digesting):
    digesting.digest, digesting.digest_key = "weekly", "account"
    digesting.digest_weekday, digesting.digest_time = 0, time(9)
    digesting.save()
    RecipientFactory(external_id="123", email="dana@example.com", timezone="America/New_York")
    with time_machine.travel(datetime(2026, 10, 29, 16, tzinfo=UTC), tick=False):
        api = _client_for(api_user)
        for name, account in (("Rent", "checking"), ("Card", "savings"), ("Water", "checking")):
            response = api.post(
                "/api/v1/notifications/",
                {"recipient": "123", "type": "payment_reminder", "channel": "email", "data": bill(name, account)},
                format="json",
            )
            assert response.status_code == 202, response.content
    windows = {w.key: w for w in DigestWindow.objects.all()}
    assert {k: w.items_count for k, w in windows.items()} == {"checking": 2, "savings": 1}
    # Monday 2 November 09:00 in New York, the first Monday after daylight saving ended: 14:00 UTC
    assert windows["checking"].closes_at == datetime(2026, 11, 2, 14, tzinfo=UTC)
    assert digests_flush(now=datetime(2026, 11, 2, 14, tzinfo=UTC)) == 2
    keys = sorted(n.data["key"] for n in Notification.objects.filter(notification_type__key="activity_digest"))
    assert keys == ["checking", "savings"]


def test_a_digesting_type_cannot_be_scheduled_and_must_name_a_plain_digest_type(api, digesting, catalogue):
    RecipientFactory(external_id="123", email="dana@example.com")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "payment_reminder", "data": bill("Rent"), "send_at": later},
        format="json",
    )
    assert response.status_code == 400 and "cannot be scheduled" in response.json()["send_at"][0]
    assert not Notification.objects.exists()
    other = catalogue["weekly_checkin"]
    other.digest = "sliding"
    with pytest.raises(ValidationError, match="needs the type its digest goes as"):
        other.full_clean()
    other.digest_type = digesting  # which digests itself
    with pytest.raises(ValidationError, match="does not digest itself"):
        other.full_clean()


def test_digested_messages_count_in_the_rollups(api, digesting):
    RecipientFactory(external_id="123", email="dana@example.com")
    for name in ("Rent", "Water"):
        api.post(
            "/api/v1/notifications/",
            {"recipient": "123", "type": "payment_reminder", "channel": "email", "data": bill(name)},
            format="json",
        )
    rollups_fold(now=datetime.now(UTC))
    row = DailyRollup.objects.get(notification_type=digesting)
    assert (row.submitted, row.digested, row.sent, row.cancelled) == (2, 2, 0, 0)


def test_erasing_a_person_deletes_their_open_digest_and_its_items(api, digesting):
    dana = RecipientFactory(external_id="123", email="dana@example.com")
    RecipientFactory(external_id="456", email="sam@example.com")
    for who in ("123", "123", "456"):
        api.post(
            "/api/v1/notifications/",
            {"recipient": who, "type": "payment_reminder", "channel": "email", "data": bill("Rent")},
            format="json",
        )
    counts = recipient_erase(recipient=dana)
    assert (counts["digest_windows_deleted"], counts["digest_items_deleted"]) == (1, 2)
    assert list(DigestWindow.objects.values_list("recipient", "items_count")) == [("456", 1)]
    assert digests_flush(now=datetime.now(UTC) + timedelta(hours=1)) == 1


def test_staff_see_a_types_window_and_its_messages_in_the_admin(api, digesting, admin_client):
    RecipientFactory(external_id="123", email="dana@example.com")
    api.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "payment_reminder", "channel": "email", "data": bill("Rent")},
        format="json",
    )
    window = DigestWindow.objects.get()
    listing = admin_client.get("/admin/triggers/digestwindow/")
    assert listing.status_code == 200 and "type payment_reminder" in listing.content.decode()
    page = admin_client.get(f"/admin/triggers/digestwindow/{window.pk}/change/")
    assert page.status_code == 200 and "Rent is due" in page.content.decode()
    form = admin_client.get(f"/admin/notifications/notificationtype/{digesting.pk}/change/")
    assert form.status_code == 200 and "digest_type" in form.content.decode()
