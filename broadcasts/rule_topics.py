"""A rule whose recipients are a topic's subscribers is sent as a broadcast: registered with the rules (triggers)
when the app is ready."""

from __future__ import annotations

from triggers.evaluation import topic_sender_set

from .services import rule_broadcast

topic_sender_set(rule_broadcast)
