"""One email per ESP call, in process: CPU per send through anymail's Mailgun backend, with `requests` (anymail's
own session) and with commhub's lean urllib3 session, each with anymail's url-encoded form and with commhub's
(multipart, the sender parsed once). Nothing but the transport differs: the same ~6 kB email (a text part, an
HTML part, List-Unsubscribe headers) to the peer's fake Mailgun.

    python bench/esp_transport.py [--sends 2000] [--rounds 3]

Then one SMS per Twilio call, through Twilio's own HTTP client (`requests`) and commhub's lean one, to commhub's fake
Twilio. Rounds alternate the configurations; the figures are medians of CPU milliseconds per send (process time of
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


def run_sms(lean: bool, sends: int) -> tuple[float, float]:
    from django.conf import settings

    from notifications.channels.base import OutboundMessage
    from notifications.channels.sms import TwilioSmsProvider, twilio_client

    settings.COMMHUB = {**settings.COMMHUB, "LEAN_HTTP": lean}
    provider = TwilioSmsProvider(client=twilio_client())
    message = OutboundMessage(notification_id="7d1f", channel="sms", to="+14155550123", body="Rent is due: $900")
    provider.send(message)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(sends):
        provider.send(message)
    return 1000 * (time.process_time() - cpu) / sends, sends / (time.perf_counter() - wall)


def _sms_table(rounds: int, sends: int) -> None:
    from django.conf import settings

    from tests.fakes.providers import FakeProviders

    twilio = FakeEsp(batch=True)  # commhub's own fake speaks Twilio's Messages API
    try:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = FakeProviders.twilio_sid, FakeProviders.twilio_token
        settings.TWILIO_API_BASE_URL, settings.TWILIO_FROM_NUMBER = twilio.url, "+15005550006"
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(rounds):
            for lean in (False, True):
                figures[lean].append(run_sms(lean, sends))
        base = statistics.median(c for c, _ in figures[False])
        print(f"=== one SMS per Twilio call, in process ({sends} sends x {rounds} rounds, medians) ===")
        for lean, label in ((False, "TwilioHttpClient (requests)"), (True, "LeanTwilioHttpClient")):
            cpu = statistics.median(c for c, _ in figures[lean])
            rate = statistics.median(r for _, r in figures[lean])
            print(f"{label:44s} {cpu:6.3f} ms CPU per send  {rate:6.0f} sends/s  CPU {cpu / base:4.2f}x twilio's")
    finally:
        twilio.stop()


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
        _sms_table(args.rounds, args.sends)
    finally:
        esp.proc.terminate()


if __name__ == "__main__":
    main()
