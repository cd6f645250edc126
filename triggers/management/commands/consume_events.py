"""Consume events from Apache Kafka, or (no Kafka configured) a Redis stream, as a member of a consumer group
(at least once; the event ids make replays harmless), until SIGTERM or SIGINT, which finish the batch in hand."""

from __future__ import annotations

import signal
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from commhub import tenancy
from orgs.models import Organisation
from triggers.streams import kafka_consume, redis_consume


class Command(BaseCommand):
    help = (
        "Read events from Kafka (KAFKA_BOOTSTRAP_SERVERS) or a Redis stream (COMMHUB_EVENTS_REDIS_URL); run the rules."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--servers", default=None, help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS)."
        )
        parser.add_argument("--redis", default=None, help="Redis URL of the stream (default COMMHUB_EVENTS_REDIS_URL).")
        parser.add_argument("--topic", default=None, help="Kafka topic or Redis stream (KAFKA_EVENTS_TOPIC, ...).")
        parser.add_argument("--group", default=None, help="Consumer group (default KAFKA_EVENTS_GROUP).")
        parser.add_argument(
            "--consumer", default=None, help="Redis consumer name (default: the host name; a restart resumes its own)."
        )
        parser.add_argument("--organisation", default=None, help="Slug (default COMMHUB_EVENTS_ORGANISATION).")
        parser.add_argument("--batch", type=int, default=None, help="Messages per transaction (COMMHUB_EVENTS_BATCH).")

    def handle(self, *args, servers=None, redis=None, topic=None, group=None, organisation=None, batch=None, **kw):
        servers = servers if servers is not None else settings.KAFKA_BOOTSTRAP_SERVERS
        redis = redis or (settings.EVENTS_REDIS_URL if not servers else "")
        if not servers and not redis:
            raise CommandError(
                "no stream to read: set KAFKA_BOOTSTRAP_SERVERS or COMMHUB_EVENTS_REDIS_URL"
                " (or pass --servers or --redis)"
            )
        batch = batch or settings.EVENTS_BATCH
        if not 1 <= batch <= 10_000:
            raise CommandError(f"--batch takes 1 to 10000 messages, not {batch}")
        slug = organisation or settings.EVENTS_ORGANISATION
        with tenancy.everything():
            owner = Organisation.objects.filter(slug=slug).first()
        if owner is None:
            raise CommandError(f"no organisation {slug!r}: the events it would own have nowhere to go")
        stop = {"now": False}

        def finish(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        group = group or settings.KAFKA_EVENTS_GROUP
        with tenancy.within(owner.pk):
            if servers:
                topic = topic or settings.KAFKA_EVENTS_TOPIC
                self.stderr.write(f"consuming Kafka {topic} on {servers} as group {group} for organisation {slug}")
                done = kafka_consume(
                    servers=servers, topic=topic, group=group, batch=batch, stopping=lambda: stop["now"]
                )
            else:
                stream = topic or settings.EVENTS_REDIS_STREAM
                self.stderr.write(f"consuming Redis stream {stream} as group {group} for organisation {slug}")
                done = redis_consume(
                    url=redis,
                    stream=stream,
                    group=group,
                    consumer=kw.get("consumer") or socket.gethostname(),
                    batch=batch,
                    stopping=lambda: stop["now"],
                )
        self.stderr.write(
            f"stopped: {done.events} events, {done.duplicates} duplicates, {done.dead} dead letters"
            f" in {done.batches} batches"
        )
