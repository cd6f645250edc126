"""ESP batch sending through anymail's real Mailgun backend to the fake Mailgun, which speaks the batch form
(`to` with `recipient-variables`) and personalises each recipient's message as Mailgun does.

Each recipient of a batch gets exactly what the per-message path sends them (compared field by field at the
fake, the same notifications sent both ways), with their own unsubscribe link, data, headers and metadata;
tracking webhooks still find the right notification; the fallbacks to one-by-one sending hold."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import DeliveryAttempt, Notification, TypeChannel
from notifications.selectors import notification_types
from preferences.unsubscribe import read_unsubscribe_token
from tests.factories import RecipientFactory, submit
from tests.fakes.providers import MAILGUN
from tests.notifications.lessons import (
    LESSONS,
    WEBHOOK_SECRET,
    assert_failed_alone,
    consenting_readers,
    post_tracking_event,
    sent_both_ways,
    submit_lessons,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_with_anymail")]

SIGNING_KEY = "mailgun-webhook-signing-key"


@pytest.fixture
def readers(catalogue, via_fakes):
    return consenting_readers(18)


def delivered_by_address(fake) -> dict[str, dict]:
    return {r.fields["to"]: r.fields for r in fake.sent(MAILGUN)}


def as_received(fields: dict) -> dict:
    """What the person gets: the parts, the headers we set and the metadata (the id Mailgun assigns aside)."""
    keys = ("subject", "text", "html", "h:List-Unsubscribe", "h:List-Unsubscribe-Post", "v:notification_id")
    return {k: fields.get(k) for k in keys} | {"h:X-Commhub-Notification": fields.get("h:X-Commhub-Notification")}


def test_one_call_carries_the_group_and_each_recipient_gets_their_own_message(readers, via_fakes):
    rows = submit_lessons(readers)
    result = queue_drain(queue="email_education")
    assert result.sent == len(rows)
    batched = [r for r in via_fakes.sent(MAILGUN) if r.batch > 1]
    calls = {r.response["id"] for r in batched}
    # two shapes (with and without the optional url) share two calls; the whitespace-padded subject (folded
    # after rendering) and the merge-field look-alike go one by one
    assert len(batched) == len(rows) - 6 and len(calls) == 2
    received = delivered_by_address(via_fakes)
    assert len(received) == len(rows)
    for n in Notification.objects.filter(pk__in=[r.pk for r in rows]).select_related("recipient"):
        fields = received[n.recipient.email]
        assert n.status == Status.SENT and n.provider_message_id
        assert (fields["subject"], fields["text"], fields["html"]) == (
            n.rendered_subject,
            n.rendered_body,
            n.rendered_html,
        )
        assert fields["v:notification_id"] == str(n.pk) == fields["h:X-Commhub-Notification"]
        # the recipient's own one-click link, in the header and in both parts
        link = re.search(r"<(http[^>]+)>", fields["h:List-Unsubscribe"]).group(1)
        token = urlsplit(link).path.split("/")[2]
        assert read_unsubscribe_token(token)[0] == n.recipient
        assert link in fields["text"] and link in fields["html"]
        assert " ".join(n.data["title"].split()) == fields["subject"]
        assert f"Hi {n.recipient.attributes['first_name']}," in fields["text"]
    assert DeliveryAttempt.objects.filter(notification__in=rows, outcome="success").count() == len(rows)
    assert CostEntry.objects.filter(notification__in=rows).count() == len(rows)


def _normalised(fake) -> dict[str, dict]:
    """Each recipient's message with what must differ between two sends (the notification id and the
    unsubscribe token's signing time) replaced by placeholders."""
    out = {}
    for address, fields in delivered_by_address(fake).items():
        received = as_received(fields)
        token = urlsplit(re.search(r"<(http[^>]+)>", received["h:List-Unsubscribe"]).group(1)).path.split("/")[2]
        notification_id = received["v:notification_id"]
        out[address] = {
            k: v.replace(token, "TOKEN").replace(quote(token), "TOKEN").replace(notification_id, "ID")
            for k, v in received.items()
            if v is not None
        }
    return out


def test_batch_and_per_message_paths_send_the_same_messages(readers, via_fakes, settings):
    batched, one_by_one = sent_both_ways(via_fakes, MAILGUN, settings, readers, _normalised)
    assert one_by_one == batched


def test_a_bounce_for_one_recipient_of_a_batch_fails_exactly_that_notification(client, readers, via_fakes, settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": ":".join(WEBHOOK_SECRET),
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    rows = submit_lessons(readers[:6])
    queue_drain(queue="email_education")
    deliveries = [r for r in via_fakes.sent(MAILGUN) if r.batch > 1]
    assert len({r.response["id"] for r in deliveries}) == 1  # one call, one Mailgun id for all of them
    bounced = deliveries[2]
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    event = {
        "signature": {
            "timestamp": timestamp,
            "token": token,
            "signature": hmac.new(SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest(),
        },
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "timestamp": time.time(),
            "recipient": bounced.fields["to"],
            "message": {"headers": {"message-id": bounced.response["id"].strip("<>")}},
            # Mailgun reports the custom data as the recipient received it
            "user-variables": {k[2:]: v for k, v in bounced.fields.items() if k.startswith("v:")},
        },
    }
    assert post_tracking_event(client, "mailgun", event).status_code == 200
    assert_failed_alone(rows, bounced.fields["to"])


def test_two_messages_to_one_address_never_share_a_call(readers, via_fakes):
    person = readers[0]
    for i in range(3):
        submit(recipient=person.external_id, type="educational_content", data={"title": f"T{i}", "summary": "s"})
    for other in readers[1:5]:
        submit(recipient=other.external_id, type="educational_content", data={"title": "T", "summary": "s"})
    assert queue_drain(queue="email_education").sent == 7
    by_call: dict[str, list[str]] = {}
    for r in via_fakes.sent(MAILGUN):
        by_call.setdefault(r.response["id"], []).append(r.fields["to"])
    assert all(len(addresses) == len(set(addresses)) for addresses in by_call.values())
    assert sorted(r.fields["subject"] for r in via_fakes.sent(MAILGUN) if r.fields["to"] == person.email) == [
        "T0",
        "T1",
        "T2",
    ]


def test_a_failed_batch_call_is_sent_again_one_by_one(readers, via_fakes):
    for person in readers[:5]:
        submit(recipient=person.external_id, type="educational_content", data=LESSONS[0])
    via_fakes.fail_next(MAILGUN, status=503, message="Service Unavailable")
    result = queue_drain(queue="email_education")
    assert result.sent == 5
    calls = via_fakes.calls(MAILGUN)
    assert [c.status for c in calls if c.batch > 1] == [503] * 5  # the one batch call, refused whole
    assert sorted(c.fields["to"] for c in via_fakes.sent(MAILGUN)) == sorted(p.email for p in readers[:5])


def test_transactional_and_critical_mail_is_never_batched(catalogue, via_fakes):
    for i in range(4):
        RecipientFactory(external_id=f"t-{i}", email=f"t-{i}@example.com")
        submit(recipient=f"t-{i}", type="financial_alert", channel="email")
        submit(
            recipient=f"t-{i}",
            type="payment_reminder",
            channel="email",
            data={"bill_name": "Rent", "amount": "$1", "due_date": "Fri"},
        )
    queue_drain(queue="email_critical")
    queue_drain(queue="email_daily")
    sent = via_fakes.sent(MAILGUN)
    assert len(sent) == 8 and all(r.batch == 1 for r in sent)


def test_a_group_is_rechecked_and_expiry_held_before_the_call(readers, via_fakes):
    from datetime import timedelta

    from django.utils import timezone

    from preferences.models import ConsentAction, ConsentSource
    from preferences.services import Evidence, consent_record

    rows = [submit(recipient=p.external_id, type="educational_content", data=LESSONS[0]) for p in readers[:6]]
    # while they wait: one person withdraws consent, one message passes its expiry
    consent_record(
        recipient=readers[0],
        channel="email",
        purpose="marketing",
        action=ConsentAction.WITHDRAWN,
        evidence=Evidence(source=ConsentSource.API, consent_text="Stop the lessons.", actor="tests"),
    )
    Notification.objects.filter(pk=rows[1].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    result = queue_drain(queue="email_education")
    assert (result.sent, result.suppressed, result.expired) == (4, 1, 1)
    statuses = dict(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))
    assert statuses[rows[0].pk] == Status.SUPPRESSED and statuses[rows[1].pk] == Status.EXPIRED
    delivered = sorted(r.fields["to"] for r in via_fakes.sent(MAILGUN))
    assert delivered == sorted(p.email for p in readers[2:6])
    assert all(r.batch == 4 for r in via_fakes.sent(MAILGUN))  # one call for the four still due


def test_a_cap_without_room_for_the_group_sends_one_by_one_within_it(readers, via_fakes, settings):
    settings.COMMHUB = {**settings.COMMHUB, "TYPE_RATE_LIMITS": True, "RATE_LIMIT_REDIS_URL": ""}  # database store
    TypeChannel.objects.filter(notification_type__key="educational_content", channel="email").update(
        rate_limit_per_minute=3, global_rate_limit_per_minute=3
    )
    notification_types.invalidate()
    for person in readers[:6]:
        submit(recipient=person.external_id, type="educational_content", data=LESSONS[0])
    result = queue_drain(queue="email_education")
    # a group of 6 does not fit a cap of 3 for everyone: the rows go one by one, 3 now, 3 when it refills
    assert result.sent == 3 and result.throttled >= 1
    assert len(via_fakes.sent(MAILGUN)) == 3 and all(r.batch == 1 for r in via_fakes.sent(MAILGUN))


def test_a_persons_limit_takes_one_unit_each_so_a_group_of_people_goes_in_one_call(readers, via_fakes, settings):
    settings.COMMHUB = {**settings.COMMHUB, "TYPE_RATE_LIMITS": True, "RATE_LIMIT_REDIS_URL": ""}  # database store
    TypeChannel.objects.filter(notification_type__key="educational_content", channel="email").update(
        rate_limit_per_minute=3
    )
    notification_types.invalidate()
    for person in readers[:6]:
        submit(recipient=person.external_id, type="educational_content", data=LESSONS[0])
    assert queue_drain(queue="email_education").sent == 6
    assert [r.batch for r in via_fakes.sent(MAILGUN)] == [6] * 6  # one ESP call for six people


def test_a_batch_call_that_times_out_leaves_every_row_unknown(readers, via_fakes, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": (2, 0.3)}
    via_fakes.latency = 0.6  # the fake takes the batch, then answers too late: it may have been sent
    try:
        rows = [submit(recipient=p.external_id, type="educational_content", data=LESSONS[0]) for p in readers[:4]]
        queue_drain(queue="email_education")
    finally:
        via_fakes.latency = 0.0
    statuses = set(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True))
    assert statuses == {Status.UNKNOWN}  # never retried blindly, never failed over to a second ESP
    assert DeliveryAttempt.objects.filter(notification__in=rows, outcome="unknown").count() == 4
