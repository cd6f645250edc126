"""End to end: a recurring send created in the admin fires through a real `celery beat` and a real worker
process, creates the right notifications and sends them; disabling it in the admin stops it."""

import json
import time

import pytest
from django.contrib.auth import get_user_model

from notifications.models import Notification, RecurringRun, RecurringSend
from tests.conftest import wait_until
from tests.factories import RecipientFactory
from tests.fakes.providers import MAILGUN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_recurring_send_from_the_admin_runs_on_real_beat_and_stops_when_disabled(
    client, catalogue, fake, start_worker, start_beat
):
    for name in ("ana", "ben", "cy"):
        RecipientFactory(external_id=name, email=f"{name}@example.com")
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x" * 20))
    form = {
        "name": "status digest",
        "notification_type": catalogue["monthly_report"].pk,
        "channel": "",
        "data": json.dumps({"month": "May", "summary": "All good."}),
        "enabled": "on",
        "audience": "list",
        "attribute_filter": "{}",
        "recipient_ids": "ana, ben",
        "minute": "*",
        "hour": "*",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": "UTC",
        "every_seconds": "2",  # "every minute" would make the test wait minutes; the beat path is the same
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "0",
    }
    assert client.post("/admin/notifications/recurringsend/add/", form).status_code == 302
    recurring = RecurringSend.objects.get()

    start_worker(fake, concurrency=2)
    beat_log = start_beat(fake)
    assert wait_until(lambda: RecurringRun.objects.filter(recurring=recurring).count() >= 2, timeout=40), (
        beat_log.read_text()[-3000:]
    )
    assert wait_until(lambda: len(fake.sent(MAILGUN)) >= 4, timeout=20)
    runs = list(RecurringRun.objects.filter(recurring=recurring).order_by("slot"))
    assert all(r.created == 2 and r.errors == 0 for r in runs if r.finished_at)
    assert {n.recipient.external_id for n in Notification.objects.select_related("recipient")} == {"ana", "ben"}
    assert {r.fields["to"] if isinstance(r.fields["to"], str) else r.fields["to"][0] for r in fake.sent(MAILGUN)} == {
        "ana@example.com",
        "ben@example.com",
    }

    form.pop("enabled")
    assert client.post(f"/admin/notifications/recurringsend/{recurring.pk}/change/", form).status_code == 302
    time.sleep(1.0)  # a run already executing when it was disabled may still finish
    stopped_at = RecurringRun.objects.filter(recurring=recurring).count()
    time.sleep(7.0)  # longer than beat's 5 s check for schedule changes, plus several intervals
    after = RecurringRun.objects.filter(recurring=recurring).count()
    print(f"\nrecurring send on real beat: {stopped_at} runs before disabling, {after} after 7 s disabled")
    assert after == stopped_at
