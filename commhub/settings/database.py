"""The database: SQLite in the embedded mode, PostgreSQL in production (DATABASE_URL)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import DATA_DIR, env


def _prepare_threshold(raw: str) -> int | None:
    """psycopg's prepare_threshold: runs of a statement on a connection before it is prepared; None never."""
    value = raw.strip().lower()
    if value in ("off", "none", "false"):
        return None
    if not value.isdigit():
        raise ImproperlyConfigured(f"DB_PREPARE_THRESHOLD must be a whole number (0: at once) or off, not {raw!r}.")
    return int(value)


DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'commhub.sqlite3'}"),
}
_db = DATABASES["default"]
# Persistent connections: a new PostgreSQL connection costs ~6 ms here, more than a whole send.
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server (psycopg's own cursor, not Django's default client-side quoting), and a
    # statement run DB_PREPARE_THRESHOLD times on a connection prepared there: the server parses and plans it
    # once, not per call (a send's policy read 410 -> 90 us of PostgreSQL's CPU). Behind a pooler in transaction
    # mode without prepared-statement support (PgBouncer < 1.21), set DB_PREPARE_THRESHOLD=off.
    _db.setdefault("OPTIONS", {}).update(
        server_side_binding=env.bool("DB_SERVER_SIDE_BINDING", default=True),
        prepare_threshold=_prepare_threshold(env.str("DB_PREPARE_THRESHOLD", default="5")),
    )
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock at BEGIN so
    # two claimers serialise instead of failing with "database is locked" half-way through.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests with a real worker process need an on-disk test database the worker can open too.
    _db.setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test_commhub.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
