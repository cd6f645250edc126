"""Sender threads and group commit, against committed data (each thread has its own connection)."""

import threading
import uuid

import pytest
from django.utils import timezone

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import notifications_claim, queue_drain
from notifications.delivery.group_commit import GroupRecorder, SuccessRecord
from notifications.models import DeliveryAttempt, Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.fakes.providers import MAILGUN

pytestmark = pytest.mark.django_db(transaction=True)


def test_four_sender_threads_send_and_record_every_message_once(catalogue, via_fakes):
    from tests.factories import RecipientFactory, grant_marketing

    grant_marketing(RecipientFactory(external_id="reader"), "email")
    results = notifications_submit_batch(
        [
            SubmitRequest(recipient="reader", type="educational_content", data={"title": f"T{i}", "summary": "S"})
            for i in range(60)
        ]
    )
    assert all(r.ok for r in results)
    via_fakes.latency = 0.005  # replies overlap: several senders are in flight at once
    try:
        result = queue_drain(queue="email_education", threads=4, batch_size=10)
    finally:
        via_fakes.latency = 0.0
    assert (result.claimed, result.sent, result.released, result.lost) == (60, 60, 0, 0)
    assert Notification.objects.filter(status=Status.SENT).count() == 60
    assert DeliveryAttempt.objects.count() == 60 and CostEntry.objects.count() == 60
    sent_ids = {r.fields["v:notification_id"] for r in via_fakes.sent(MAILGUN)}
    assert len(via_fakes.sent(MAILGUN)) == 60 and len(sent_ids) == 60  # no duplicate provider call


def test_group_recorder_commits_concurrent_records_and_reports_a_lost_claim(catalogue, recipient):
    from notifications.services import notification_submit

    rows = [
        notification_submit(
            SubmitRequest(recipient="123", type="financial_alert", data={"amount": "$1", "account": "checking"})
        )
        for _ in range(8)
    ]
    token = uuid.uuid4()
    claimed = notifications_claim(queue="sms_critical", limit=8, token=token, now=timezone.now())
    Notification.objects.filter(pk=rows[0].pk).update(claim_token=uuid.uuid4())  # taken over by the sweeper
    recorder = GroupRecorder()
    outcomes: dict = {}
    barrier = threading.Barrier(8)

    def send(n):
        from django.db import connection

        barrier.wait()
        now = timezone.now()
        outcomes[n.pk] = recorder.record(
            SuccessRecord(
                notification=n,
                token=token,
                provider="capture",
                provider_message_id=f"id-{n.pk}",
                attempt_number=1,
                segments=1,
                cost=None,
                started_at=now,
                duration_ms=1,
                now=now,
            )
        )
        connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes[rows[0].pk] is False and sum(outcomes.values()) == 7
    assert Notification.objects.filter(status=Status.SENT).count() == 7
    assert DeliveryAttempt.objects.count() == 8  # the lost one's provider call is on record too


def test_concurrent_claims_are_disjoint_and_respect_their_limit(catalogue, recipient):
    from notifications.services import notification_submit

    for _ in range(30):
        notification_submit(
            SubmitRequest(recipient="123", type="financial_alert", data={"amount": "$1", "account": "checking"})
        )
    claimed: list[list] = []
    barrier = threading.Barrier(4)

    def claim():
        from django.db import connection

        barrier.wait()
        rows = notifications_claim(queue="sms_critical", limit=7, token=uuid.uuid4(), now=timezone.now())
        claimed.append([n.pk for n in rows])
        connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(ids) <= 7 for ids in claimed)
    every = [pk for ids in claimed for pk in ids]
    assert len(every) == len(set(every)) == 28  # disjoint, and SKIP LOCKED let every claimer get its share
    assert Notification.objects.filter(status=Status.SENDING).count() == 28
