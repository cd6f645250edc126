"""Every send goes through a chain of one or more providers (senders) for its channel.

Pace. Before a provider is called, the rate limiter (notifications.ratelimit) must grant the message's own
limits (the catalogue's type x channel limit) and the pace of a sender in the chain: the first sender with
room is taken, so a second number carries the overflow of the first. When nothing has room the send raises
`Throttled` and the pipeline puts the row back until there is room; nothing is consumed by a refusal.

Failover (two or more providers). Consecutive failures open a provider's breaker; sends then go to the next
provider. After a cool-down one send probes the provider again (half-open): success closes the breaker,
failure opens it for another cool-down. Only failures that prove the provider did not take the message fail
over (5xx, 429, connection refused); an ambiguous error (a timeout after the request went out) does not,
since the first provider may have sent it: that error goes back to the pipeline's retry instead.

Breakers are per worker process (each learns on its own within a few sends) and shared by its sender threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from commhub.conf import knobs
from commhub.counters import PROVIDER_ERRORS, PROVIDER_SECONDS, SENDS
from notifications.ratelimit import Rate, Throttled, limiter, sender_rate

from .base import DeliveryError, OutboundMessage, Provider, SendResult, TransientError

logger = logging.getLogger(__name__)


@dataclass
class Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def state(self, now: float, cooldown: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= cooldown else "open"


_breakers: dict[str, Breaker] = {}
_lock = threading.Lock()


def breaker_states() -> dict[str, str]:
    """Provider name -> closed / open / half-open (for health checks and tests)."""
    now, cooldown = time.monotonic(), knobs().breaker_open_seconds
    with _lock:
        return {name: b.state(now, cooldown) for name, b in _breakers.items()}


def reset_breakers() -> None:
    with _lock:
        _breakers.clear()


class FailoverProvider(Provider):
    """Sends through the first provider whose breaker and pace let it; see the module docstring."""

    def __init__(self, providers: list[Provider]) -> None:
        self.providers = providers
        self.channel = providers[0].channel
        self.name = providers[0].name  # what an attempt is recorded under when no send happened
        self.breakers = len(providers) > 1  # one provider has nowhere to fail over to: its errors are retried

    def open(self) -> None:
        for provider in self.providers:
            provider.open()

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    def _may_try(self, name: str, now: float) -> bool:
        if not self.breakers:
            return True
        cooldown = knobs().breaker_open_seconds
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            state = breaker.state(now, cooldown)
            return state == "closed" or (state == "half-open" and not breaker.probing)

    def _trying(self, name: str, now: float) -> None:
        """The provider was chosen: when its breaker is half-open this send is the probe (one at a time)."""
        if not self.breakers:
            return
        cooldown = knobs().breaker_open_seconds
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            if breaker.state(now, cooldown) == "half-open":
                breaker.probing = True

    def _succeeded(self, name: str) -> None:
        if not self.breakers:
            return
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            if breaker.opened_at is not None:
                logger.warning("provider %s is back: circuit closed", name)
            _breakers[name] = Breaker()

    def _failed(self, name: str, now: float) -> None:
        if not self.breakers:
            return
        threshold = knobs().breaker_failures
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            breaker.failures += 1
            reopen = breaker.probing or (breaker.opened_at is None and breaker.failures >= threshold)
            breaker.probing = False
            if reopen:
                breaker.opened_at = now
                logger.warning("provider %s: circuit open after %d consecutive failures", name, breaker.failures)

    def batch_sender(self) -> Provider | None:
        """The provider a batch goes to: the first, while its breaker is closed (a batch is never the probe of
        a half-open breaker, and never fails over: its rows retry one by one)."""
        primary = self.providers[0]
        if self.breakers:
            with _lock:
                breaker = _breakers.setdefault(primary.sender, Breaker())
                if breaker.state(time.monotonic(), knobs().breaker_open_seconds) != "closed":
                    return None
        return primary

    def batch_done(self, provider: Provider, *, seconds: float, sent: int, error: DeliveryError | None) -> None:
        """Account for a batch call as for single sends: latency, sends or errors, and the breaker."""
        PROVIDER_SECONDS.labels(provider.name, self.channel).observe(seconds)
        if error is None:
            SENDS.labels(provider.name, self.channel).inc(sent)
            self._succeeded(provider.sender)
            return
        kind = "transient" if error.transient else "permanent"
        PROVIDER_ERRORS.labels(provider.name, self.channel, kind, error.code[:40]).inc()
        if error.transient:
            self._failed(provider.sender, time.monotonic())
        else:
            self._succeeded(provider.sender)

    def _next(self, candidates: list[Provider], message: OutboundMessage, common: list[Rate]) -> Provider:
        """The first candidate the rate limits let through now (consuming its units), or Throttled."""
        paced = [(p, sender_rate(p.sender, critical=message.critical)) for p in candidates]
        chosen: list[Provider]
        rates: list[Rate]
        if paced[0][1] is None:  # the first sender is not paced: only the message's own limits may refuse
            chosen, rates = [paced[0][0]], []
        else:  # senders up to (and including) the first unpaced one, which always has room
            chosen, rates = [], []
            for provider, rate in paced:
                chosen.append(provider)
                rates.append(rate or Rate(key=f"sender:{provider.sender}", per_second=1e9, label=provider.sender))
                if rate is None:
                    break
        if not common and not rates:
            return chosen[0]  # nothing limits this send: no round trip
        grant = limiter().acquire(common=common, choices=rates, units=message.units)
        if not grant.allowed:
            raise Throttled(grant.blocked_by or [*common, *rates][0], grant.wait)
        return chosen[grant.choice or 0]

    def send(self, message: OutboundMessage) -> SendResult:
        last_error: DeliveryError | None = None
        common = list(message.limits)  # charged once, with the first sender that is granted
        candidates = self.providers
        while True:
            now = time.monotonic()
            candidates = [p for p in candidates if self._may_try(p.sender, now)]
            if not candidates:
                break
            provider = self._next(candidates, message, common)
            common = []
            candidates = candidates[candidates.index(provider) + 1 :]
            self._trying(provider.sender, now)
            started = time.perf_counter()
            try:
                result = provider.send(message)
            except DeliveryError as exc:
                PROVIDER_SECONDS.labels(provider.name, self.channel).observe(time.perf_counter() - started)
                kind = "transient" if exc.transient else "permanent"
                PROVIDER_ERRORS.labels(provider.name, self.channel, kind, exc.code[:40]).inc()
                if not exc.transient:
                    self._succeeded(provider.sender)  # it answered: a refusal is about the message, not its health
                    raise
                self._failed(provider.sender, now)
                if exc.ambiguous or not self.breakers:
                    raise  # it may have been sent (or there is no other provider): the pipeline decides
                logger.info("provider %s failed (%s); trying the next one", provider.sender, exc.message)
                last_error = exc
                continue
            PROVIDER_SECONDS.labels(provider.name, self.channel).observe(time.perf_counter() - started)
            SENDS.labels(provider.name, self.channel).inc()
            self._succeeded(provider.sender)
            return replace(result, provider=provider.name)
        if last_error is not None:
            raise last_error
        raise TransientError(f"every {self.channel} provider is unavailable (circuits open)", code="circuit_open")
