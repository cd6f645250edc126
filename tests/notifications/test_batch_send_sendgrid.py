"""ESP batch sending through anymail's real SendGrid backend to the fake SendGrid, which speaks v3 mail send:
one request, a personalization per recipient with their own substitutions (plain replacement in the subject and
the content, as SendGrid's legacy substitutions), custom_args and headers.

Each recipient gets exactly what the per-message path sends them (compared field by field at the fake, the same
notifications sent both ways), with their own unsubscribe link, data, headers and metadata; a recipient whose
merge data is over SendGrid's 10,000 bytes goes on their own; a bounce finds the right notification."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote, urlsplit

import pytest

from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import DeliveryAttempt, Notification
from preferences.unsubscribe import read_unsubscribe_token
from tests.conftest import sendgrid_settings
from tests.factories import submit
from tests.fakes.providers import SENDGRID
from tests.notifications.lessons import (
    LESSONS,
    assert_failed_alone,
    consenting_readers,
    post_tracking_event,
    sent_both_ways,
    submit_lessons,
    use_esp,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_with_anymail")]


@pytest.fixture
def via_sendgrid(settings, fake):
    use_esp(settings, sendgrid_settings(fake))
    return fake


@pytest.fixture
def readers(catalogue, via_sendgrid):
    return consenting_readers(8)


def unsubscribe_link(fields: dict) -> str:
    return re.search(r"<(http[^>]+)>", fields["headers"]["List-Unsubscribe"]).group(1)


def test_one_call_carries_the_group_and_each_recipient_gets_their_own_message(readers, via_sendgrid):
    rows = submit_lessons(readers)
    assert queue_drain(queue="email_education").sent == len(rows)
    delivered = via_sendgrid.sent(SENDGRID)
    assert len(delivered) == len(rows)
    # the whitespace-padded subject (folded after rendering) goes on its own; the rest share calls
    assert sorted(r.batch > 1 for r in delivered) == [False] + [True] * (len(rows) - 1)
    by_address = {r.fields["to"]: r.fields for r in delivered}
    for n in Notification.objects.filter(pk__in=[r.pk for r in rows]).select_related("recipient"):
        fields = by_address[n.recipient.email]
        assert n.status == Status.SENT
        assert (fields["subject"], fields["text"], fields["html"]) == (
            n.rendered_subject,
            n.rendered_body,
            n.rendered_html,
        )
        assert fields["custom_args"]["notification_id"] == str(n.pk) == fields["headers"]["X-Commhub-Notification"]
        assert n.provider_message_id == fields["custom_args"]["anymail_id"]  # anymail's id, one per recipient
        link = unsubscribe_link(fields)
        assert read_unsubscribe_token(urlsplit(link).path.split("/")[2])[0] == n.recipient
        assert link in fields["text"] and link in fields["html"]
        assert "%commhub." not in fields["text"] + fields["html"] + fields["subject"]
    assert len({n.provider_message_id for n in Notification.objects.filter(pk__in=[r.pk for r in rows])}) == len(rows)
    assert DeliveryAttempt.objects.filter(notification__in=rows, outcome="success").count() == len(rows)


def _normalised(fake) -> dict[str, dict]:
    """Each recipient's message, with what differs between two sends of it (the notification id, the
    unsubscribe token, anymail's message id) replaced by placeholders."""
    out = {}
    for record in fake.sent(SENDGRID):
        fields = {k: v for k, v in record.fields.items()}
        fields["custom_args"] = {k: v for k, v in fields["custom_args"].items() if k != "anymail_id"}
        token = urlsplit(unsubscribe_link(fields)).path.split("/")[2]
        text = json.dumps(fields, sort_keys=True).replace(quote(token), "TOKEN").replace(token, "TOKEN")
        out[fields["to"]] = json.loads(text.replace(fields["custom_args"]["notification_id"], "ID"))
    return out


def test_batch_and_per_message_paths_send_the_same_messages(readers, via_sendgrid, settings):
    batched, one_by_one = sent_both_ways(via_sendgrid, SENDGRID, settings, readers, _normalised)
    assert one_by_one == batched


def test_a_recipient_with_more_merge_data_than_sendgrid_takes_goes_on_their_own(readers, via_sendgrid):
    long = {"title": "Long read", "summary": "word " * 2500, "url": "https://example.com/long"}
    rows = [submit(recipient=p.external_id, type="educational_content", data=LESSONS[0]) for p in readers[:4]]
    rows.append(submit(recipient=readers[4].external_id, type="educational_content", data=long))
    assert queue_drain(queue="email_education").sent == 5
    delivered = {r.fields["to"]: r for r in via_sendgrid.sent(SENDGRID)}
    alone = delivered.pop(readers[4].email)
    assert alone.batch == 1 and long["summary"].strip() in alone.fields["text"]
    assert {r.batch for r in delivered.values()} == {4}
    assert set(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {"sent"}


def test_a_value_that_looks_like_our_substitution_key_goes_on_its_own_intact(readers, via_sendgrid):
    look_alike = {"title": "Fees %commhub.m0% explained", "summary": "s", "url": "https://example.com/1"}
    rows = [submit(recipient=p.external_id, type="educational_content", data=LESSONS[0]) for p in readers[:3]]
    rows.append(submit(recipient=readers[3].external_id, type="educational_content", data=look_alike))
    assert queue_drain(queue="email_education").sent == 4
    delivered = {r.fields["to"]: r for r in via_sendgrid.sent(SENDGRID)}
    alone = delivered.pop(readers[3].email)
    assert alone.batch == 1 and alone.fields["subject"] == "Fees %commhub.m0% explained"
    assert {r.batch for r in delivered.values()} == {3}


def test_a_call_refused_whole_is_sent_again_one_by_one(readers, via_sendgrid):
    for person in readers[:5]:
        submit(recipient=person.external_id, type="educational_content", data=LESSONS[0])
    via_sendgrid.fail_next(SENDGRID, status=503, message="Service Unavailable")
    assert queue_drain(queue="email_education").sent == 5
    assert [c.status for c in via_sendgrid.calls(SENDGRID) if c.batch > 1] == [503] * 5
    assert sorted(c.fields["to"] for c in via_sendgrid.sent(SENDGRID)) == sorted(p.email for p in readers[:5])


def test_a_bounce_for_one_recipient_of_a_batch_fails_exactly_that_notification(client, readers, via_sendgrid):
    rows = [submit(recipient=p.external_id, type="educational_content", data=LESSONS[0]) for p in readers[:6]]
    queue_drain(queue="email_education")
    deliveries = via_sendgrid.sent(SENDGRID)
    assert {r.batch for r in deliveries} == {6}
    bounced = deliveries[2]
    event = {
        "email": bounced.fields["to"],
        "timestamp": int(time.time()),
        "event": "bounce",
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "sg_event_id": "ZHVtbXkgZXZlbnQ",
        "sg_message_id": f"{bounced.response['x-message-id']}.filter0001.16648.5515E0B88.0",
        **bounced.fields["custom_args"],  # SendGrid reports the custom args at the event's top level
    }
    assert post_tracking_event(client, "sendgrid", [event]).status_code == 200
    assert_failed_alone(rows, bounced.fields["to"])
