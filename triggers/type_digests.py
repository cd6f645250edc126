"""A digesting type's messages go to this app's windows: registered with the submit path (notifications) when the
app is ready."""

from __future__ import annotations

from notifications.digesting import gatherer_set

from .digests import type_digest_gather

gatherer_set(type_digest_gather)
