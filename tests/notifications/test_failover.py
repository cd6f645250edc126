"""Email failover: the primary ESP (anymail's Mailgun backend) returning 5xx moves sends to the secondary
(anymail's Postmark backend), its circuit opens so it is not called at all, and one probe after the cool-down
brings it back once it has recovered. Both are the real anymail backends against the local fake APIs."""

import time

import pytest

from notifications.channels.failover import breaker_states
from notifications.delivery import queue_drain
from notifications.models import Notification
from tests.conftest import mailgun_settings, postmark_settings
from tests.factories import submit
from tests.fakes.providers import MAILGUN, POSTMARK

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_esps(settings, fake):
    primary, secondary = mailgun_settings(fake), postmark_settings(fake)
    settings.ANYMAIL = {**primary["ANYMAIL"], **secondary["ANYMAIL"]}
    settings.EMAIL_FALLBACK_BACKENDS = [secondary["EMAIL_BACKEND"]]
    settings.EMAIL_BACKEND = primary["EMAIL_BACKEND"]
    settings.COMMHUB = {**settings.COMMHUB, "BREAKER_FAILURES": 3, "BREAKER_OPEN_SECONDS": 0.5}
    return fake


def send_reports(n: int) -> list:
    rows = [submit(type="monthly_report", data={"month": f"M{i}"}) for i in range(n)]
    queue_drain(queue="email_reports")
    return rows


def test_the_primary_failing_moves_sends_to_the_secondary_and_recovers(catalogue, recipient, two_esps):
    fake = two_esps
    fake.fail_always(MAILGUN, status=503, message="Service Unavailable")
    rows = send_reports(6)
    assert len(fake.calls(MAILGUN)) == 3  # three failures open its circuit; then it is not called at all
    assert len(fake.sent(POSTMARK)) == 6  # every message went out through the secondary
    assert breaker_states()["mailgun"] == "open"
    assert {n.provider for n in Notification.objects.filter(pk__in=[r.pk for r in rows])} == {"postmark"}
    assert {n.status for n in Notification.objects.filter(pk__in=[r.pk for r in rows])} == {"sent"}

    fake.recover(MAILGUN)
    time.sleep(0.6)  # the cool-down passes: the next send probes the primary
    later = send_reports(3)
    assert len(fake.sent(MAILGUN)) == 3 and len(fake.sent(POSTMARK)) == 6
    assert breaker_states()["mailgun"] == "closed"
    assert {n.provider for n in Notification.objects.filter(pk__in=[r.pk for r in later])} == {"mailgun"}


def test_a_failed_probe_keeps_the_circuit_open(catalogue, recipient, two_esps):
    fake = two_esps
    fake.fail_always(MAILGUN, status=502)
    send_reports(3)
    time.sleep(0.6)
    send_reports(2)
    assert len(fake.calls(MAILGUN)) == 4  # 3 to open it, 1 probe that failed; the second message skipped it
    assert breaker_states()["mailgun"] == "open" and len(fake.sent(POSTMARK)) == 5


def test_a_refused_message_does_not_fail_over(catalogue, recipient, two_esps):
    fake = two_esps
    fake.fail_next(MAILGUN, status=400, message="'to' parameter is not a valid address")
    [n] = send_reports(1)
    n.refresh_from_db()
    assert n.status == "failed" and fake.sent(POSTMARK) == []  # the message was the problem, not the provider
    assert breaker_states().get("mailgun") == "closed"


def test_every_provider_failing_is_a_transient_error_that_retries(catalogue, recipient, two_esps):
    fake = two_esps
    fake.fail_always(MAILGUN, status=503)
    fake.fail_always(POSTMARK, status=503)
    [n] = send_reports(1)
    n.refresh_from_db()
    assert n.status == "pending" and n.attempts == 1  # back off and retry, as for one provider
