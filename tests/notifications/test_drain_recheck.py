"""The re-check before the provider call, made for a claimed batch at once (one policy evaluation, not one
statement per row), and made again for a row whose batch answer is older than a second."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.channels.providers import provider_for
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.delivery.claim import notifications_claim
from notifications.delivery.send import PRECHECK_FRESH_SECONDS, Precheck, notification_deliver
from notifications.models import Notification
from preferences.services import suppression_add
from tests.factories import RecipientFactory, submit
from tests.fakes.providers import MAILGUN

pytestmark = pytest.mark.django_db

MAY = {"month": "May"}


@pytest.fixture
def one_by_one(settings, catalogue, via_fakes):
    """Reports sent one message per call (no ESP batch), claims large enough for every row."""
    settings.COMMHUB = {**settings.COMMHUB, "ESP_BATCH_SIZE": 0, "DRAIN_BATCH_SIZE": 50}
    return via_fakes


def test_a_claimed_batch_is_rechecked_in_one_policy_evaluation(one_by_one):
    ids = []
    for i in range(20):
        RecipientFactory(external_id=f"r{i}", email=f"r{i}@example.com")
        ids.append(submit(recipient=f"r{i}", type="monthly_report", data=MAY).pk)
    suppression_add(channel="email", address="r7@example.com", reason="complaint")  # after the submit
    queue = Notification.objects.get(pk=ids[0]).queue
    with CaptureQueriesContext(connection) as queries:
        result = queue_drain(queue=queue, threads=1)
    reads = [q for q in queries.captured_queries if "preferences_suppression" in q["sql"]]
    assert len(reads) == 1  # for the 20 rows of the claim (it was one per row)
    assert (result.sent, result.suppressed) == (19, 1)
    refused = Notification.objects.get(pk=ids[7])
    assert refused.status == Status.SUPPRESSED and refused.decision_trace[-1]["check"] == "suppression"
    assert len(one_by_one.calls(MAILGUN)) == 19


@pytest.mark.parametrize(("age", "outcome"), [(PRECHECK_FRESH_SECONDS + 4, Status.SUPPRESSED), (0, Status.SENT)])
def test_a_batch_answer_stands_for_a_second_then_the_row_is_rechecked(one_by_one, age, outcome):
    RecipientFactory(external_id="dana", email="dana@example.com")
    queue = submit(recipient="dana", type="monthly_report", data=MAY).queue
    token = uuid.uuid4()
    (row,) = notifications_claim(queue=queue, limit=1, token=token, now=timezone.now())
    passed = Precheck(refusal=None, at=time.monotonic() - age)  # the claim's re-check found nothing
    suppression_add(channel="email", address="dana@example.com", reason="complaint")  # then a complaint came
    assert notification_deliver(row, provider=provider_for("email"), token=token, precheck=passed) == outcome
    # an answer older than a second is asked again, and the complaint wins; a fresh one stands
    assert Notification.objects.get(pk=row.pk).status == outcome


def _statements_to_drain(rows: int, start: int) -> int:
    ids = []
    for i in range(start, start + rows):
        RecipientFactory(external_id=f"s{i}", email=f"s{i}@example.com")
        ids.append(submit(recipient=f"s{i}", type="monthly_report", data=MAY).pk)
    queue = Notification.objects.get(pk=ids[0]).queue
    with CaptureQueriesContext(connection) as queries:
        result = queue_drain(queue=queue, threads=1)
    assert result.sent == rows
    return len(queries.captured_queries)


def test_a_row_of_a_claimed_batch_costs_at_most_its_own_success_statement(one_by_one):
    """Nothing is read back per row (a field the claim did not load would be fetched row by row): twice the
    rows cost at most one statement more per row, the one that records its send."""
    ten, twenty = _statements_to_drain(10, 0), _statements_to_drain(20, 100)
    assert twenty - ten <= 10
