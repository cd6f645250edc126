"""Outbound webhooks: where commhub may POST, how long it waits, how secrets rotate."""

from __future__ import annotations

from .base import env

# Hosts (a name, or an address range like 10.1.0.0/16) exempt from the refusal of loopback, private, link-local
# and metadata addresses, and allowed over plain http: a development receiver, a test's local server, a partner
# on a private link. Empty: only public https endpoints.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# 0: a redirect is an error (the default); N: follow up to N, each new address checked like the first.
WEBHOOK_FOLLOW_REDIRECTS = env.int("WEBHOOK_FOLLOW_REDIRECTS", default=0)
# After a secret rotation, requests carry signatures by both the new and the old secret for this long.
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)
# An endpoint that has answered nothing but failures for this long is disabled and staff are told (through
# commhub's own staff_alert); 0: never.
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=72)
# Lifecycle events (event subscriptions): a failed delivery is retried after BASE x 2^n seconds (jittered),
# at most MAX apart, until the endpoint answers or is disabled; one pass claims BATCH deliveries and sends
# CONCURRENCY at a time.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600)
WEBHOOK_EVENT_BATCH = env.int("WEBHOOK_EVENT_BATCH", default=200)
WEBHOOK_EVENT_CONCURRENCY = env.int("WEBHOOK_EVENT_CONCURRENCY", default=8)
# Delivered and failed lifecycle events are deleted after this many days (replays reach that far back).
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)
