"""Prometheus metrics and logging."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .base import DATA_DIR, env
from .broker import CELERY_BROKER_URL

# --- metrics ------------------------------------------------------------------------------------------
# Every process (web, workers) writes its counters here and /metrics adds them up (prometheus-client's
# multiprocess mode). The variable must be set before prometheus_client is imported, hence os.environ.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# /metrics (and /health's details) want this bearer token; without one they are closed unless METRICS_OPEN says
# anyone who reaches the port may read them (a same-host proxy makes every caller look like the loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_OPEN = env.bool("METRICS_OPEN", default=False)

# --- logging ------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: "time LEVEL logger [notification id] message"; json: one object per line (see commhub/logs.py)
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"notification": {"()": "commhub.logs.NotificationContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(notification_id)s] %(message)s"},
        "json": {"()": "commhub.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["notification"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "twilio.http_client": {"level": "WARNING"}},
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu warns that a filesystem:// URL has no host name; there is none to give.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
