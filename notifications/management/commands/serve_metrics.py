"""Serve this host's worker metrics (provider latency, errors, sends) for Prometheus, on a host without web."""

import contextlib
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from commhub.counters import counters_registry


class Command(BaseCommand):
    help = "Serve the counters this host's processes wrote to PROMETHEUS_MULTIPROC_DIR (no database gauges)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9808)
        parser.add_argument("--bind", default="127.0.0.1", help="Address to listen on (default: loopback only).")

    def handle(self, *args, port: int, bind: str, **options):
        try:
            server, _ = start_http_server(port, addr=bind, registry=counters_registry())
        except OSError as exc:
            raise CommandError(f"cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
        self.stdout.write(f"worker metrics on http://{bind}:{port}/metrics (Ctrl-C stops)")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        server.shutdown()
