"""Events from streams: where the consumer reads, as which group, in which organisation."""

from __future__ import annotations

from .base import env
from .broker import CELERY_BROKER_URL

# Apache Kafka: `manage.py consume_events` joins KAFKA_EVENTS_GROUP on KAFKA_EVENTS_TOPIC. Empty: no Kafka.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="")
KAFKA_EVENTS_TOPIC = env.str("KAFKA_EVENTS_TOPIC", default="commhub.events")
KAFKA_EVENTS_GROUP = env.str("KAFKA_EVENTS_GROUP", default="commhub")
# Redis Streams: where no Kafka is configured, `consume_events` reads this stream (XADD <stream> * event <json>)
# in the consumer group KAFKA_EVENTS_GROUP. Default: the broker's Redis, when the broker is Redis.
EVENTS_REDIS_URL = env.str(
    "COMMHUB_EVENTS_REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
EVENTS_REDIS_STREAM = env.str("COMMHUB_EVENTS_REDIS_STREAM", default="commhub.events")
# commhub's own lifecycle events (notification.sent, .delivered, ... as the webhooks carry them) are also
# published to this topic on KAFKA_BOOTSTRAP_SERVERS, keyed by notification (in order per notification). Empty: not.
KAFKA_LIFECYCLE_TOPIC = env.str("KAFKA_LIFECYCLE_TOPIC", default="")
# Messages taken per transaction (and per offset commit).
EVENTS_BATCH = env.int("COMMHUB_EVENTS_BATCH", default=500)
# The organisation (slug) a consumer's events belong to; one consumer per organisation that streams events.
EVENTS_ORGANISATION = env.str("COMMHUB_EVENTS_ORGANISATION", default="default")
