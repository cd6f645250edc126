"""One email per ESP call, in process: CPU per send through anymail's Mailgun backend, with `requests` (anymail's
own session) and with commhub's lean urllib3 session, each with anymail's url-encoded form and with commhub's
(multipart, the sender parsed once). Nothing but the transport differs: the same ~6 kB email (a text part, an
HTML part, List-Unsubscribe headers) to the peer's fake Mailgun.

    python bench/esp_transport.py [--sends 2000] [--rounds 3]

Rounds alternate the four configurations; the figures are medians of CPU milliseconds per send (process time of
this process: the fake ESP is another) and sends per second on one thread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FakeEsp, bench_env, django_setup, log

# "commhub's form": notifications/channels/mailgun.py, multipart, the sender's address parsed once
CONFIGS = {
    "requests + anymail's form (as it is)": (False, "anymail.backends.mailgun.EmailBackend"),
    "requests + commhub's form": (False, "notifications.channels.mailgun.EmailBackend"),
    "lean + anymail's form": (True, "anymail.backends.mailgun.EmailBackend"),
    "lean + commhub's form (the default)": (True, "notifications.channels.mailgun.EmailBackend"),
}


def _message():
    from notifications.channels.base import OutboundMessage

    html = "<html><body><table>" + "<tr><td><p>This month: five lessons on saving, with links " * 45
    html += "https://example.com/learn?x=1&y=2</p></td></tr></table></body></html>"
    return OutboundMessage(
        notification_id="7d1f0000-0000-4000-8000-000000000001",
        channel="email",
        to="dana@example.com",
        subject="Your weekly lesson: saving for a rainy day",
        body="Hello Dana,\n" + "This month: five lessons on saving.\n" * 45,
        html=html,
        headers={
            "List-Unsubscribe": "<https://hub.example/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        metadata={"type": "educational_content"},
    )


def run(lean: bool, backend: str, sends: int) -> tuple[float, float]:
    from django.conf import settings
    from django.core.mail import get_connection

    from notifications.channels.email import EmailProvider

    settings.COMMHUB = {**settings.COMMHUB, "LEAN_HTTP": lean}
    provider = EmailProvider()
    provider.connection = get_connection(backend)  # anymail's own backend, or commhub's multipart subclass
    message = _message()
    provider.open()
    provider.send(message)  # the connection, opened
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(sends):
        provider.send(message)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    provider.close()
    return 1000 * cpu / sends, sends / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    esp = FakeEsp()
    try:
        django_setup(bench_env(**esp.email_env()))
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
        for round_ in range(args.rounds):
            for name, (lean, backend) in CONFIGS.items():
                figures[name].append(run(lean, backend, args.sends))
                cpu, rate = figures[name][-1]
                log(f"round {round_ + 1}: {name}: {cpu:.3f} ms CPU per send, {rate:.0f} sends/s")
        base = statistics.median(c for c, _ in figures[next(iter(CONFIGS))])
        print(f"=== one email per Mailgun call, in process ({args.sends} sends x {args.rounds} rounds, medians) ===")
        for name, runs in figures.items():
            cpu = statistics.median(c for c, _ in runs)
            rate = statistics.median(r for _, r in runs)
            print(f"{name:44s} {cpu:6.3f} ms CPU per send  {rate:6.0f} sends/s  CPU {cpu / base:4.2f}x anymail's")
    finally:
        esp.proc.terminate()


if __name__ == "__main__":
    main()
