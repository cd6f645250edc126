"""Staff call tasks: when reminders go, when a call counts as missed."""

from __future__ import annotations

from .base import env

# Minutes before a call its caller is reminded (each offset once), and its callee when the call asks for it.
CALL_REMINDER_MINUTES = env.list("CALL_REMINDER_MINUTES", cast=int, default=[15])
CALL_CALLEE_REMINDER_MINUTES = env.list("CALL_CALLEE_REMINDER_MINUTES", cast=int, default=[60])
# A call with no outcome this long after its slot is missed, and the caller's organisation's staff are told.
CALL_MISSED_AFTER_MINUTES = env.int("CALL_MISSED_AFTER_MINUTES", default=60)
