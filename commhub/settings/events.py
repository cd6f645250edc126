"""Events from streams: where the consumer reads, as which group, in which organisation."""

from __future__ import annotations

from .base import env

# Apache Kafka: `manage.py consume_events` joins KAFKA_EVENTS_GROUP on KAFKA_EVENTS_TOPIC. Empty: no Kafka.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="")
KAFKA_EVENTS_TOPIC = env.str("KAFKA_EVENTS_TOPIC", default="commhub.events")
KAFKA_EVENTS_GROUP = env.str("KAFKA_EVENTS_GROUP", default="commhub")
# Messages taken per transaction (and per offset commit).
EVENTS_BATCH = env.int("COMMHUB_EVENTS_BATCH", default=500)
# The organisation (slug) a consumer's events belong to; one consumer per organisation that streams events.
EVENTS_ORGANISATION = env.str("COMMHUB_EVENTS_ORGANISATION", default="default")
