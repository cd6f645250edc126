"""End to end with real processes: `celery worker` (and `celery beat`) subprocesses against the test
database and broker, delivering through the real anymail/Twilio clients to the local fake providers."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from notifications.constants import Status
from notifications.models import Notification, NotificationType
from notifications.services import SubmitRequest, notification_submit, notifications_submit_batch
from tests.conftest import wait_until
from tests.factories import RecipientFactory, grant_marketing
from tests.fakes.providers import MAILGUN, TWILIO

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALERT = {"amount": "$120.00", "account": "checking"}
on_redis = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://"),
    reason="strict queue priority needs the Redis broker (the filesystem broker has no queue order)",
)


def settled(ids, statuses=(Status.SENT, Status.FAILED)):
    return Notification.objects.filter(pk__in=ids, status__in=statuses).count() == len(ids)


def test_api_send_is_delivered_by_a_real_worker_through_twilio(api, catalogue, recipient, fake, start_worker):
    start_worker(fake)
    response = api.post(
        "/api/communication/send", {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT}, format="json"
    )
    task_id = response.json()["task_id"]
    assert wait_until(lambda: settled([task_id]), timeout=20), Notification.objects.get(pk=task_id).status
    n = Notification.objects.get(pk=task_id)
    [request] = fake.sent(TWILIO)
    assert n.status == Status.SENT and n.provider_message_id == request.response["sid"]
    assert str(n.cost) == "0.007500"
    status = api.get(f"/api/communication/status/{task_id}").json()
    assert status["status"] == "SUCCESS" and status["result"]["message_id"] == n.provider_message_id


@on_redis
def test_critical_alert_overtakes_a_backlog_of_2000_education_emails(catalogue, fake, start_worker):
    RecipientFactory(external_id="123", phone="+14155550123")
    for i in range(20):
        grant_marketing(RecipientFactory(external_id=f"reader-{i}"), "email")
    worker = start_worker(fake, concurrency=1)
    for chunk in range(2):
        items = [
            SubmitRequest(
                recipient=f"reader-{i % 20}",
                type="educational_content",
                data={"title": f"Lesson {chunk}-{i}", "summary": "Budgeting basics"},
            )
            for i in range(1000)
        ]
        assert all(r.ok for r in notifications_submit_batch(items))
    # let the worker get going on the backlog, then raise the alarm
    assert wait_until(lambda: len(fake.sent(MAILGUN)) >= 50, timeout=30), worker.log.read_text()[-2000:]
    alert = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    assert wait_until(lambda: settled([alert.pk]), timeout=30)
    alert.refresh_from_db()
    emails = Notification.objects.filter(notification_type__key="educational_content")
    assert wait_until(lambda: emails.filter(status=Status.SENT).count() == 2000, timeout=120)
    last_email = emails.aggregate(last=Max("sent_at"))["last"]
    sent_after_alert = emails.filter(sent_at__gt=alert.sent_at).count()
    print(
        f"alert sent {(alert.sent_at - alert.created_at).total_seconds():.3f}s after submit; "
        f"{sent_after_alert} of 2000 emails were still waiting behind it"
    )
    assert alert.status == Status.SENT and alert.sent_at < last_email
    assert sent_after_alert >= 1000  # it jumped the queue; it did not wait for the backlog
    assert (alert.sent_at - alert.created_at) < timedelta(seconds=5)


def test_permanent_sms_failure_is_delivered_by_email_fallback(api, catalogue, recipient, fake, start_worker):
    fake.fail_always(TWILIO, status=400, code=21211, message="The 'To' number is not a valid phone number.")
    start_worker(fake)
    task_id = api.post(
        "/api/communication/send", {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT}, format="json"
    ).json()["task_id"]
    assert wait_until(
        lambda: Notification.objects.filter(fallback_of_id=task_id, status=Status.SENT).exists(), timeout=20
    )
    assert len(fake.calls(TWILIO)) == 1 and len(fake.sent(MAILGUN)) == 1
    status = api.get(f"/api/communication/status/{task_id}").json()
    assert status["result"]["fallback_used"] is True and status["result"]["status"] == "failed"
    assert status["status"] == "SUCCESS"  # the communication reached the user, by email


def test_transient_failure_is_retried_by_the_worker_and_succeeds(catalogue, recipient, fake, start_worker):
    NotificationType.objects.filter(key="financial_alert").update(retry_base_delay=1)
    fake.fail_next(TWILIO, times=1, status=503, message="Service Unavailable")
    start_worker(fake)
    n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    assert wait_until(lambda: settled([n.pk]), timeout=30)
    n.refresh_from_db()
    assert n.status == Status.SENT and n.attempts == 2
    assert [c.status for c in fake.calls(TWILIO)] == [503, 201]


def test_exhausted_retries_end_failed(catalogue, recipient, fake, start_worker):
    NotificationType.objects.filter(key="financial_alert").update(
        retry_base_delay=1, max_retries=1, fallback_channel=""
    )
    fake.fail_always(TWILIO, status=500, message="Internal Server Error")
    start_worker(fake)
    n = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    assert wait_until(lambda: settled([n.pk]), timeout=30)
    n.refresh_from_db()
    assert n.status == Status.FAILED and n.attempts == 2 and len(fake.calls(TWILIO)) == 2
    assert "retries exhausted" in n.last_error or "retries exhausted" in n.decision_trace[-1]["reason"]


def test_far_future_send_is_dispatched_by_a_real_beat(catalogue, recipient, fake, start_worker, start_beat):
    start_worker(fake)
    n = notification_submit(
        SubmitRequest(
            recipient="123", type="financial_alert", data=ALERT, send_at=timezone.now() + timedelta(seconds=3)
        )
    )
    assert n.status == Status.SCHEDULED
    log = start_beat(fake)
    assert wait_until(lambda: settled([n.pk]), timeout=40), log.read_text()[-3000:]
    n.refresh_from_db()
    assert n.status == Status.SENT and n.sent_at >= n.send_at
