"""ESP batch sending through anymail's real Postmark backend to the fake Postmark, which speaks Postmark's batch
call (`POST /email/batch`: a list of complete messages, one result per message in order).

Each recipient gets exactly what the per-message path sends them (compared field by field at the fake, the same
notifications sent both ways), with their own unsubscribe link, data, headers, metadata and message id; a
message Postmark refuses fails alone, as its single send would; a bounce finds the right notification; a call
refused whole is sent again one by one."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlsplit

import pytest

from costs.models import CostEntry
from notifications.channels import email as email_channel
from notifications.channels.base import PermanentError, SendResult
from notifications.channels.postmark import answer_result
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import DeliveryAttempt, Notification
from preferences.unsubscribe import read_unsubscribe_token
from tests.conftest import postmark_settings
from tests.factories import submit
from tests.fakes.providers import POSTMARK
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

INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive.\nFound inactive addresses: {to}.\n"
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
)


@pytest.fixture
def via_postmark(settings, fake):
    use_esp(settings, postmark_settings(fake))
    return fake


@pytest.fixture
def readers(catalogue, via_postmark):
    return consenting_readers(8)


def header(fields: dict, name: str) -> str | None:
    return next((h["Value"] for h in fields.get("Headers", []) if h["Name"] == name), None)


def test_one_call_carries_the_group_and_each_message_is_its_own(readers, via_postmark):
    rows = submit_lessons(readers)
    result = queue_drain(queue="email_education")
    assert result.sent == len(rows)
    delivered = via_postmark.sent(POSTMARK)
    assert len(delivered) == len(rows)
    assert {(r.path, r.batch) for r in delivered} == {("/email/batch", len(rows))}  # one call for all of them
    by_address = {r.fields["To"]: r for r in delivered}
    for n in Notification.objects.filter(pk__in=[r.pk for r in rows]).select_related("recipient"):
        record = by_address[n.recipient.email]
        fields = record.fields
        assert n.status == Status.SENT
        assert n.provider_message_id == record.response["MessageID"]  # each message its own Postmark id
        assert (fields["Subject"], fields["TextBody"], fields["HtmlBody"]) == (
            n.rendered_subject,
            n.rendered_body,
            n.rendered_html,
        )
        assert fields["Metadata"]["notification_id"] == str(n.pk) == header(fields, "X-Commhub-Notification")
        link = re.search(r"<(http[^>]+)>", header(fields, "List-Unsubscribe")).group(1)
        assert read_unsubscribe_token(urlsplit(link).path.split("/")[2])[0] == n.recipient
        assert link in fields["TextBody"] and link in fields["HtmlBody"]
        assert f"Hi {n.recipient.attributes['first_name']}," in fields["TextBody"]
    assert len({n.provider_message_id for n in Notification.objects.filter(pk__in=[r.pk for r in rows])}) == len(rows)
    assert DeliveryAttempt.objects.filter(notification__in=rows, outcome="success").count() == len(rows)
    assert CostEntry.objects.filter(notification__in=rows).count() == len(rows)


def _normalised(fake) -> dict[str, dict]:
    """Each recipient's message, with what differs between two sends of it (the notification id, the
    unsubscribe token, plain and quoted) replaced by placeholders."""
    out = {}
    for record in fake.sent(POSTMARK):
        fields = dict(record.fields)
        token = urlsplit(re.search(r"<(http[^>]+)>", header(fields, "List-Unsubscribe")).group(1)).path.split("/")[2]
        text = json.dumps(fields, sort_keys=True)
        out[fields["To"]] = json.loads(
            text.replace(quote(token), "TOKEN")
            .replace(token, "TOKEN")
            .replace(fields["Metadata"]["notification_id"], "ID")
        )
    return out


def test_batch_and_per_message_paths_send_the_same_messages(readers, via_postmark, settings):
    batched, one_by_one = sent_both_ways(via_postmark, POSTMARK, settings, readers, _normalised)
    assert one_by_one == batched


def _refused_outcome(rows: list[Notification], address: str) -> tuple:
    n = Notification.objects.get(pk__in=[r.pk for r in rows], recipient__email=address)
    attempt = n.attempts_log.get()
    return n.status, n.error_code, attempt.outcome, attempt.error_code


def test_a_recipient_postmark_refuses_fails_alone_as_its_single_send_would(readers, via_postmark, settings):
    inactive = readers[2].email
    via_postmark.fail_always(POSTMARK, status=422, code=406, message=INACTIVE, when={"To": inactive})
    rows = submit_lessons(readers)
    result = queue_drain(queue="email_education")
    assert (result.sent, result.failed) == (len(rows) - 1, 1)
    calls = via_postmark.calls(POSTMARK)
    assert len(calls) == len(rows) and {c.batch for c in calls} == {len(rows)}  # one call, nothing sent twice
    assert_failed_alone(rows, inactive)
    in_batch = _refused_outcome(rows, inactive)
    assert in_batch[1] == "recipients_refused"

    # the same refusal on the per-message path ends the same way
    via_postmark.reset()
    via_postmark.fail_always(POSTMARK, status=422, code=406, message=INACTIVE, when={"To": inactive})
    settings.COMMHUB = {**settings.COMMHUB, "ESP_BATCH_SIZE": 0}
    single = [submit(recipient=readers[2].external_id, type="educational_content", data=LESSONS[2])]
    queue_drain(queue="email_education")
    assert via_postmark.calls(POSTMARK)[0].path == "/email"
    assert _refused_outcome(single, inactive) == in_batch


def test_a_call_whose_every_message_is_refused_fails_each_row_once(readers, via_postmark):
    via_postmark.fail_always(POSTMARK, status=422, code=406, message=INACTIVE)
    rows = submit_lessons(readers[:4])
    result = queue_drain(queue="email_education")
    assert (result.sent, result.failed) == (0, 4)
    assert {(c.path, c.batch) for c in via_postmark.calls(POSTMARK)} == {("/email/batch", 4)}
    failed = Notification.objects.filter(pk__in=[r.pk for r in rows], status=Status.FAILED)
    assert set(failed.values_list("error_code", flat=True)) == {"recipients_refused"} and failed.count() == 4


def test_a_call_refused_whole_is_sent_again_one_by_one(readers, via_postmark):
    rows = submit_lessons(readers[:5])
    via_postmark.fail_next(POSTMARK, status=503, message="Service Unavailable")
    assert queue_drain(queue="email_education").sent == 5
    calls = via_postmark.calls(POSTMARK)
    assert [(c.path, c.status) for c in calls if c.path == "/email/batch"] == [("/email/batch", 503)] * 5
    assert sorted(c.fields["To"] for c in via_postmark.sent(POSTMARK)) == sorted(p.email for p in readers[:5])
    assert all(c.path == "/email" for c in via_postmark.sent(POSTMARK))
    assert set(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {"sent"}


def test_a_call_holds_at_most_the_esps_limit(readers, via_postmark, monkeypatch):
    monkeypatch.setitem(email_channel.MESSAGE_LIST_LIMIT, "postmark", 3)
    submit_lessons(readers)
    assert queue_drain(queue="email_education").sent == len(readers)
    assert sorted(r.batch for r in via_postmark.sent(POSTMARK)) == [2, 2, 3, 3, 3, 3, 3, 3]


def test_a_bounce_for_one_recipient_of_a_batch_fails_exactly_that_notification(client, readers, via_postmark):
    rows = submit_lessons(readers[:6])
    queue_drain(queue="email_education")
    bounced = via_postmark.sent(POSTMARK)[3]
    assert bounced.batch == 6
    event = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "ID": 4323372036854775807,
        "MessageID": bounced.response["MessageID"],
        "Email": bounced.fields["To"],
        "BouncedAt": "2026-12-06T16:00:00Z",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Metadata": bounced.fields["Metadata"],
    }
    assert post_tracking_event(client, "postmark", event).status_code == 200
    assert_failed_alone(rows, bounced.fields["To"])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"ErrorCode": 0, "Message": "OK", "MessageID": "m-1"}, SendResult(provider_message_id="m-1", status="sent")),
        (
            {"ErrorCode": 0, "Message": "Message accepted, but delivery may be delayed.", "MessageID": "m-2"},
            SendResult(provider_message_id="m-2", status="queued"),
        ),
        (
            {
                "ErrorCode": 0,
                "MessageID": "m-3",
                "Message": "Message OK, but will not deliver to these inactive "
                "addresses: a@example.com. Inactive recipients are ones that have generated a hard bounce.",
            },
            "recipients_refused",
        ),
        ({"ErrorCode": 406, "Message": INACTIVE.format(to="a@example.com")}, "recipients_refused"),
        ({"ErrorCode": 300, "Message": "Invalid 'To' address: 'a@'."}, "recipients_refused"),
        ({"ErrorCode": 300, "Message": "Invalid 'From' address: 'x'."}, "http_422"),
        ({"ErrorCode": 412, "Message": "Account is pending approval."}, "http_422"),
    ],
)
def test_each_answer_of_a_batch_ends_as_the_single_send_would(answer, expected):
    """What anymail makes of the same answer to a single send: accepted (delayed: queued), its recipient refused
    (AnymailRecipientsRefused: recipients_refused), or the API's 422 (http_422)."""
    result = answer_result(answer, provider="postmark")
    if isinstance(expected, SendResult):
        assert result == expected
    else:
        assert isinstance(result, PermanentError) and result.code == expected
