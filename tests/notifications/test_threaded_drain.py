"""Sender threads and write-behind success records, against committed data (each thread has its own connection)."""

import threading
import time
import uuid

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from costs.models import CostEntry
from notifications.constants import Status
from notifications.delivery import notifications_claim, queue_drain
from notifications.delivery.group_commit import SuccessRecord
from notifications.delivery.write_behind import WriteBehind
from notifications.models import DeliveryAttempt, Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.factories import RecipientFactory, grant_marketing
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


def _alerts(n: int) -> tuple[uuid.UUID, list]:
    from notifications.services import notification_submit

    for _ in range(n):
        notification_submit(
            SubmitRequest(recipient="123", type="financial_alert", data={"amount": "$1", "account": "checking"})
        )
    token = uuid.uuid4()
    return token, notifications_claim(queue="sms_critical", limit=n, token=token, now=timezone.now())


def _success(n, token) -> SuccessRecord:
    now = timezone.now()
    return SuccessRecord(
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


def test_write_behind_writes_concurrent_records_in_batches_and_reports_a_lost_claim(catalogue, recipient):
    token, claimed = _alerts(8)
    Notification.objects.filter(pk=claimed[0].pk).update(claim_token=uuid.uuid4())  # taken over by the sweeper
    batches: list[int] = []
    owned: dict = {}

    def written(records, answers):
        batches.append(len(records))
        owned.update({r.notification.pk: ok for r, ok in zip(records, answers, strict=True)})

    recorder = WriteBehind(batch=3, max_age=60, written=written)
    barrier = threading.Barrier(8)

    def send(n):
        from django.db import connection

        barrier.wait()
        recorder.add(_success(n, token))
        connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert batches == [3, 3]  # full batches only; two records wait
    recorder.flush()  # the drain's end
    assert batches == [3, 3, 2]
    assert owned[claimed[0].pk] is False and sum(owned.values()) == 7
    assert Notification.objects.filter(status=Status.SENT).count() == 7
    assert DeliveryAttempt.objects.count() == 8  # the lost one's provider call is on record too


def test_write_behind_holds_at_most_two_batches_unwritten(catalogue, recipient):
    """While a batch is being written the next fills; a sender whose record would overfill it waits."""
    import psycopg
    from django.conf import settings as django_settings
    from django.db import connection

    token, claimed = _alerts(5)
    recorder = WriteBehind(batch=2, max_age=60, written=lambda records, owned: None)
    db = django_settings.DATABASES["default"]
    locker = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=connection.settings_dict["NAME"], autocommit=False
    )
    locker.execute(f'SELECT 1 FROM "{Notification._meta.db_table}" WHERE id = %s FOR UPDATE', [claimed[0].pk])  # noqa: S608 (model metadata)

    def add_all(rows):
        from django.db import connection

        for n in rows:
            recorder.add(_success(n, token))
        connection.close()

    first = threading.Thread(target=add_all, args=(claimed[:2],))  # fills a batch, writes it: blocked by the lock
    first.start()
    time.sleep(0.3)
    second = threading.Thread(target=add_all, args=(claimed[2:],))  # fills the next batch, then must wait
    second.start()
    second.join(timeout=1.0)
    assert first.is_alive() and second.is_alive()  # 2 being written, 2 waiting, the fifth sender held back
    assert Notification.objects.filter(status=Status.SENT).count() == 0
    locker.rollback()
    locker.close()
    first.join(timeout=10)
    second.join(timeout=10)
    recorder.flush()
    assert not first.is_alive() and not second.is_alive()
    assert Notification.objects.filter(status=Status.SENT).count() == 5


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


def test_a_connection_lost_while_looking_for_urgent_work_stops_the_drain_and_gives_every_claim_back(
    catalogue, via_fakes
):
    """A draining sender looks for more urgent work every URGENCY_CHECK_SECONDS; the database answers that query
    with a broken connection (as when every backend is terminated): the drain stops and gives back what it holds
    on a new connection, instead of the sender thread dying with its rows claimed until their lease runs out."""
    grant_marketing(RecipientFactory(external_id="reader"), "email")
    notifications_submit_batch(
        [
            SubmitRequest(recipient="reader", type="educational_content", data={"title": f"T{i}", "summary": "S"})
            for i in range(12)
        ]
    )
    broken = []

    def break_the_urgency_check(execute, sql, params, many, context):
        if sql.startswith("SELECT DISTINCT") and '"queue" IN' in sql and not broken:
            broken.append(sql)
            raise OperationalError("terminating connection due to administrator command")
        return execute(sql, params, many, context)

    via_fakes.latency = 0.05  # slow enough that the check comes round while the claimed rows are being sent
    try:
        with connection.execute_wrapper(break_the_urgency_check):
            result = queue_drain(queue="email_education", threads=1, batch_size=12)
    finally:
        via_fakes.latency = 0.0
    assert broken and result.database_lost and result.claimed == 12
    assert result.sent + Notification.objects.filter(status=Status.QUEUED, claim_token__isnull=True).count() == 12
    assert not Notification.objects.filter(status=Status.SENDING).exists()  # nothing left claimed for a lease
