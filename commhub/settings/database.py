"""The database: SQLite in the embedded mode, PostgreSQL in production (DATABASE_URL)."""

from __future__ import annotations

from .base import DATA_DIR, env

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'commhub.sqlite3'}"),
}
_db = DATABASES["default"]
# Persistent connections: a new PostgreSQL connection costs ~6 ms here, more than a whole send.
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.sqlite3":
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
