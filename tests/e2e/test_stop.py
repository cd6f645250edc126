"""End to end: a STOP received through the signed Twilio webhook while 100 SMS for that number wait in the
queue; a real worker process then drains the queue through the real Twilio client."""

import pytest
from twilio.request_validator import RequestValidator

from notifications.constants import Status
from notifications.models import Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from tests.conftest import wait_until
from tests.factories import RecipientFactory
from tests.fakes.providers import TWILIO

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
PHONE, OTHER = "+14155550123", "+14155550199"


def test_stop_while_100_wait_then_a_real_worker_sends_none_of_them(client, catalogue, fake, start_worker, settings):
    settings.TWILIO_AUTH_TOKEN = fake.twilio_token
    RecipientFactory(external_id="123", phone=PHONE)
    RecipientFactory(external_id="other", phone=OTHER)
    results = notifications_submit_batch(
        [SubmitRequest(recipient="123", type="payment_reminder", data=REMINDER) for _ in range(100)]
        + [SubmitRequest(recipient="other", type="payment_reminder", data=REMINDER) for _ in range(5)]
    )
    ids = [r.notification.pk for r in results]
    assert Notification.objects.filter(pk__in=ids, status=Status.QUEUED).count() == 105

    params = {"From": PHONE, "To": "+15005550006", "Body": "Stop", "MessageSid": "SMe2e"}
    signature = RequestValidator(fake.twilio_token).compute_signature(
        "http://testserver/webhooks/twilio/inbound", params
    )
    assert client.post("/webhooks/twilio/inbound", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200

    start_worker(fake, concurrency=2)
    done = (Status.SENT, Status.SUPPRESSED, Status.FAILED)
    assert wait_until(lambda: Notification.objects.filter(pk__in=ids, status__in=done).count() == 105, timeout=60)
    to_numbers = [r.fields["To"] for r in fake.calls(TWILIO)]
    print(
        f"\nreal worker after STOP: provider calls to {PHONE}: {to_numbers.count(PHONE)}, to {OTHER}: {len(to_numbers)}"
    )
    assert to_numbers == [OTHER] * 5
    stopped = Notification.objects.filter(recipient__external_id="123")
    assert stopped.filter(status=Status.SUPPRESSED).count() == 100
    assert all("replied STOP" in n.last_error for n in stopped)
