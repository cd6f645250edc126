"""Who is acting, for the audit trail: the request being served, or the management command being run, or
nobody (a worker or beat: the system). Set by AuditContextMiddleware and manage.py; read by audit_record."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

_current: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar("audit_context", default=None)


def current() -> tuple[str, Any] | None:
    """("request", the request) or ("command", its name), or None."""
    return _current.get()


@contextlib.contextmanager
def acting(kind: str, value: Any) -> Iterator[None]:
    token = _current.set((kind, value))
    try:
        yield
    finally:
        _current.reset(token)


def set_command(name: str) -> None:
    """For the process a management command runs in (manage.py): everything it writes is that command's."""
    _current.set(("command", name))


class AuditContextMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with acting("request", request):
            return self.get_response(request)
