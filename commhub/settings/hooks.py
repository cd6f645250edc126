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
