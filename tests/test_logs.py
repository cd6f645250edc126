"""Structured logs: a line written while a notification is handled carries its id as a field (JSON format),
whatever its message says; lines written outside any notification carry none."""

import io
import json
import logging

import pytest

from commhub.logs import JsonFormatter, NotificationContextFilter
from notifications.delivery import queue_drain
from tests.factories import submit
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(NotificationContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_lines_about_a_notification_carry_its_id(catalogue, recipient, via_fakes, json_lines):
    via_fakes.fail_next(TWILIO, times=1, status=503, message="Service Unavailable")
    n = submit()
    queue_drain(queue="sms_critical")
    lines = [line for line in json_lines() if line["logger"].startswith("notifications.")]
    about = [line for line in lines if str(n.pk) in line["message"]]
    assert about, lines
    assert all(line["notification_id"] == str(n.pk) for line in about)
    assert {"ts", "level", "logger", "message", "notification_id", "process", "thread"} <= set(about[0])


def test_lines_outside_a_notification_have_none(json_lines):
    logging.getLogger("commhub.test").warning("nothing to do with a notification")
    [line] = [line for line in json_lines() if line["logger"] == "commhub.test"]
    assert line["notification_id"] is None and line["level"] == "WARNING"
