"""Structured logs: every line logged while a notification is being handled carries its id.

`notification_context(id)` sets the id for the current thread (a contextvar), so lines from anywhere below
(the provider chain, anymail, the Twilio client) carry it too. With LOG_FORMAT=json each line is one JSON
object (timestamp, level, logger, message, notification_id, exception) for a log pipeline to index.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_notification_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("notification_id", default=None)


@contextmanager
def notification_context(notification_id) -> Iterator[None]:
    token = _notification_id.set(str(notification_id))
    try:
        yield
    finally:
        _notification_id.reset(token)


class NotificationContextFilter(logging.Filter):
    """Puts `notification_id` on every record (the current one, or one passed with `extra=`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "notification_id", None):
            record.notification_id = _notification_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "notification_id": None if getattr(record, "notification_id", "-") == "-" else record.notification_id,  # type: ignore[attr-defined]
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
