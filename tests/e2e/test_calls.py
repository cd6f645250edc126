"""A call's reminder sent by the real processes: beat runs the calls pass, a worker submits the reminder and
another drain sends it through the fake Mailgun to the caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from calls.models import CallReminder
from calls.services import call_schedule
from tests.conftest import wait_until
from tests.fakes.providers import MAILGUN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_beat_and_a_worker_remind_the_caller_before_the_call(catalogue, recipient, fake, start_worker, start_beat):
    sam = get_user_model().objects.create_user("sam", "sam@bank.example", "x" * 20, is_staff=True)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="calls.remind").update(interval=every_second)
    PeriodicTasks.update_changed()
    call = call_schedule(
        caller=sam, callee=recipient, reason="Budget review", scheduled_at=timezone.now() + timedelta(minutes=3)
    )
    start_worker(fake, CALL_REMINDER_MINUTES="10,5")  # both due: only the later (5) goes
    start_beat(fake)
    assert wait_until(lambda: len(fake.sent(MAILGUN)) == 1, timeout=40)
    (mail,) = fake.sent(MAILGUN)
    assert mail.fields["to"] == "sam@bank.example" and "Budget review" in mail.fields["text"]
    said = dict(CallReminder.objects.filter(call=call).values_list("minutes_before", "said"))
    assert said[10].startswith("skipped") and said[5] in ("queued", "sent")
    assert len(fake.sent(MAILGUN)) == 1  # the next passes add nothing
