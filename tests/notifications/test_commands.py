"""Management commands: seeding, API clients, draining in-process."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications.constants import Status
from notifications.models import Notification, NotificationType
from notifications.services import SubmitRequest, notification_submit
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db

ALERT = {"amount": "$120.00", "account": "checking"}


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_seed_demo_is_idempotent_and_keeps_edits(db):
    out, _ = run("seed_demo")
    assert "13 types, 25 templates, 5 prices, 3 recipients created" in out
    NotificationType.objects.filter(key="weekly_checkin").update(max_retries=9)
    out, _ = run("seed_demo")
    assert "0 types, 0 templates, 0 prices, 0 recipients created" in out
    assert NotificationType.objects.get(key="weekly_checkin").max_retries == 9


def test_create_api_client_prints_a_working_token(client, catalogue, recipient):
    out, _ = run("create_api_client", "billing-backend")
    access = next(line.split()[-1] for line in out.splitlines() if line.startswith("access:"))
    response = client.post(
        "/api/communication/send",
        {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    assert response.status_code == 200, response.content
    password = next(line.split()[1] for line in out.splitlines() if line.startswith("password:"))
    assert client.post("/api/token/", {"username": "billing-backend", "password": password}).status_code == 200


def test_drain_queue_sends_reports_and_exits_nonzero_on_failure(catalogue, recipient, via_fakes):
    for _ in range(3):
        notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    out, _ = run("drain_queue", "--channel", "sms")
    assert "3 processed" in out and "3 sent" in out
    assert Notification.objects.filter(status=Status.SENT).count() == 3

    via_fakes.fail_always(TWILIO, status=400, code=21211, message="invalid number")
    notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    with pytest.raises(SystemExit) as exc:
        run("drain_queue", "--queue", "sms_critical")
    assert exc.value.code == 1


def test_drain_queue_respects_limit_and_queue(catalogue, recipient, via_fakes):
    for _ in range(5):
        notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    notification_submit(SubmitRequest(recipient="123", type="monthly_report", data={"month": "May"}))
    out, _ = run("drain_queue", "--queue", "sms_critical", "--limit", "2", "--batch-size", "1")
    assert "2 processed" in out
    assert Notification.objects.filter(status=Status.SENT).count() == 2
    assert Notification.objects.get(notification_type__key="monthly_report").status == Status.QUEUED


@pytest.mark.parametrize("args", [("--queue", "nope"), ("--limit", "-1"), ("--batch-size", "0")])
def test_drain_queue_bad_arguments_are_one_readable_line(db, args):
    with pytest.raises(CommandError) as exc:
        run("drain_queue", *args)
    assert "\n" not in str(exc.value)


def test_ensure_admin_creates_once(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out, _ = run("ensure_admin")
    assert "admin login created: admin / " in out
    password = out.strip().split()[-1]
    again, _ = run("ensure_admin")
    assert password in again and "created" not in again


def _failed(n, *, code: str, hours_ago: float):
    from datetime import timedelta

    from django.utils import timezone

    Notification.objects.filter(pk=n.pk).update(
        status=Status.FAILED,
        error_code=code,
        last_error=f"{code} happened",
        failed_at=timezone.now() - timedelta(hours=hours_ago),
        attempts=3,
    )


def test_requeue_filters_dry_runs_then_requeues_with_a_fresh_budget(catalogue, recipient, capsys):
    from django.core.management import call_command

    old_503 = notification_submit(SubmitRequest(recipient="123", type="monthly_report", data={"month": "May"}))
    new_503 = notification_submit(SubmitRequest(recipient="123", type="monthly_report", data={"month": "June"}))
    sms_bad = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    _failed(old_503, code="http_503", hours_ago=5)
    _failed(new_503, code="http_503", hours_ago=0.1)
    _failed(sms_bad, code="twilio_21211", hours_ago=5)

    call_command("requeue", "--error-code", "http_503", "--older-than", "2h", "--dry-run")
    out = capsys.readouterr().out
    assert "requeue (dry run): 1 failed notification(s) match [http_503: 1]" in out and str(old_503.pk) in out
    assert Notification.objects.get(pk=old_503.pk).status == Status.FAILED  # a dry run changes nothing

    call_command("requeue", "--type", "monthly_report", "--channel", "email", "--quiet")
    assert "requeue: 2 requeued, 0 skipped (no longer failed) of 2 matching" in capsys.readouterr().out
    again = Notification.objects.get(pk=old_503.pk)
    assert (again.status, again.attempts) == (Status.QUEUED, 0)
    assert again.decision_trace[-1]["check"] == "retry" and "manage.py requeue" in again.decision_trace[-1]["reason"]
    assert Notification.objects.get(pk=sms_bad.pk).status == Status.FAILED  # not matched


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "nope"], "unknown notification type nope"),
        (["--older-than", "yesterday"], "--older-than takes an age such as 30m, 2h or 7d"),
        (["--limit", "-1"], "--limit must be >= 0"),
    ],
)
def test_requeue_refuses_bad_arguments_in_one_line(catalogue, args, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("requeue", *args)


def test_serve_metrics_serves_this_hosts_counters_and_refuses_a_busy_port(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from django.core.management import CommandError

    from commhub.counters import PROVIDER_SECONDS
    from tests.conftest import ROOT, worker_env

    PROVIDER_SECONDS.labels("fake", "sms").observe(0.01)  # this process is one of the host's processes
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.listen()
        with pytest.raises(CommandError, match=r"cannot listen on 127\.0\.0\.1"):
            call_command("serve_metrics", "--port", str(port))
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve_metrics", "--port", str(port)],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert 'commhub_provider_seconds_count{channel="sms",provider="fake"}' in body
        assert "commhub_notifications" not in body  # no database gauges: those are the web side's
    finally:
        proc.terminate()
        proc.wait(timeout=10)
