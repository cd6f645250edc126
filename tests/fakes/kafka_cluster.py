"""A Kafka cluster for tests: librdkafka's mock cluster (a real Kafka protocol server on a loopback port, with
consumer groups and committed offsets), kept up by this process. It prints the bootstrap address, then waits to
be terminated.

    python -m tests.fakes.kafka_cluster
"""

from __future__ import annotations

import signal
import sys
import time

from confluent_kafka import Producer


def main() -> int:
    holder = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    broker = next(iter(holder.list_topics(timeout=10).brokers.values()))
    print(f"{broker.host}:{broker.port}", flush=True)
    running = {"yes": True}
    signal.signal(signal.SIGTERM, lambda *_: running.update(yes=False))
    while running["yes"]:
        holder.poll(0.5)
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
