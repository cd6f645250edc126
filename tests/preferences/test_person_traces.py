"""What a person reads about their own notifications (/api/v1/me/notifications/): each step's outcome and a reason
written for them, never what is the operator's business. The staff trace of the same rows names the budget,
its spend, the staff member's note, and the provider's message id: the test checks that first, so it
cannot pass on a trace that never held them."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from commhub.queues import delivery_queues
from costs.models import Budget
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from preferences.models import Preference
from preferences.services import suppression_add
from tests.conftest import client_for
from tests.factories import RecipientFactory, submit

pytestmark = pytest.mark.django_db

BUDGET = "Ops SMS cap: finance team only"
NOTE = "Ticket 4471: asked us by phone to stop all email, see CRM"
REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}


@pytest.fixture
def history(catalogue, user_jwt, via_fakes):
    """Dana's notifications: one sent, one refused by a blocking budget, one by a staff suppression with a note,
    one by her own preference; plus an alert budget that let one through."""
    staff = get_user_model().objects.create_user("ops-maria", password="x" * 20, is_staff=True)
    dana = RecipientFactory(external_id="dana", email="dana@example.com", phone="+14155550177")
    Budget.objects.create(name=BUDGET, channel="sms", limit=Decimal("0.0075"), action=Budget.Action.BLOCK)
    Budget.objects.create(name="Watch: all SMS", limit=Decimal("100"), action=Budget.Action.ALERT)
    sent = submit(recipient="dana", type="payment_reminder", data=REMINDER)
    for queue in delivery_queues():
        queue_drain(queue=queue)
    over_budget = submit(recipient="dana", type="payment_reminder", data=REMINDER)
    suppression_add(channel="email", address=dana.email, reason="manual", detail=NOTE, actor=staff)
    suppressed = submit(recipient="dana", type="monthly_report", data={"month": "May", "summary": "ok"})
    Preference.objects.create(recipient=dana, category="reminders", channel="", enabled=False)
    turned_off = submit(recipient="dana", type="payment_reminder", data=REMINDER)
    return {
        "sent": Notification.objects.get(pk=sent.pk),
        "over_budget": over_budget,
        "suppressed": suppressed,
        "turned_off": turned_off,
    }


def _staff_text(n: Notification) -> str:
    return json.dumps(n.decision_trace)


def test_the_staff_trace_holds_what_the_person_must_not_read(history):
    assert history["sent"].status == Status.SENT and history["sent"].provider_message_id
    assert history["over_budget"].status == Status.SUPPRESSED
    assert BUDGET in _staff_text(history["over_budget"]) and "USD" in _staff_text(history["over_budget"])
    assert NOTE in _staff_text(history["suppressed"])
    assert history["turned_off"].status == Status.SUPPRESSED


def test_me_traces_hold_no_budget_amount_staff_note_or_internal_id(history):
    dana = client_for("dana")
    listed = dana.get("/api/v1/me/notifications/")
    assert listed.status_code == 200
    bodies = [listed.content.decode()]
    for n in history.values():
        one = dana.get(f"/api/v1/me/notifications/{n.pk}/")
        assert one.status_code == 200
        bodies.append(one.content.decode())
    seen = "\n".join(bodies)
    traces = [step for body in bodies[1:] for step in json.loads(body)["decision_trace"]]
    reasons = "\n".join(step["reason"] for step in traces)
    for secret in (BUDGET, "Watch: all SMS", NOTE, "ops-maria", history["sent"].provider_message_id):
        assert secret not in seen, secret
    assert "budget" not in reasons.lower() and "USD" not in seen
    assert not re.search(r"\d+\.\d{2,}", reasons), reasons  # no amount of money
    assert not re.search(r"\b(pk|id)\s*[=:#]?\s*\d+", reasons, flags=re.I), reasons  # no internal id
    assert set(traces[0]) == {"check", "outcome", "reason"}


def test_each_refusal_is_explained_in_the_persons_words(history):
    dana = client_for("dana")

    def reasons(n: Notification) -> list[str]:
        return [step["reason"] for step in dana.get(f"/api/v1/me/notifications/{n.pk}/").json()["decision_trace"]]

    assert reasons(history["over_budget"])[-1] == "Not sent: a sending limit was reached."
    assert reasons(history["suppressed"])[-1] == "This address is blocked from receiving messages."
    assert reasons(history["turned_off"])[-1] == "You turned off category reminders by any channel."
    assert reasons(history["sent"])[:2] == ["We accepted this notification.", "By SMS."]
