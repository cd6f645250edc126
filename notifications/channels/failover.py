"""Several providers for one channel, in order, each behind a circuit breaker.

Consecutive failures open a provider's breaker; sends then go to the next provider. After a cool-down one
send probes the provider again (half-open): success closes the breaker, failure opens it for another
cool-down. Only failures that prove the provider did not take the message fail over (5xx, 429, connection
refused); an ambiguous error (a timeout after the request went out) does not, since the first provider may
have sent it: that error goes back to the pipeline's retry instead.

Breakers are per worker process (each learns on its own within a few sends) and shared by its sender threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from django.conf import settings

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
    now, cooldown = time.monotonic(), settings.COMMHUB["BREAKER_OPEN_SECONDS"]
    with _lock:
        return {name: b.state(now, cooldown) for name, b in _breakers.items()}


def reset_breakers() -> None:
    with _lock:
        _breakers.clear()


class FailoverProvider(Provider):
    """Sends through the first provider whose breaker lets it; see the module docstring."""

    def __init__(self, providers: list[Provider]) -> None:
        self.providers = providers
        self.channel = providers[0].channel
        self.name = providers[0].name  # what an attempt is recorded under when no send happened

    def open(self) -> None:
        for provider in self.providers:
            provider.open()

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    def _may_try(self, name: str, now: float) -> bool:
        cooldown = settings.COMMHUB["BREAKER_OPEN_SECONDS"]
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            state = breaker.state(now, cooldown)
            if state == "closed":
                return True
            if state == "half-open" and not breaker.probing:
                breaker.probing = True  # one probe at a time
                return True
            return False

    def _succeeded(self, name: str) -> None:
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            if breaker.opened_at is not None:
                logger.warning("provider %s is back: circuit closed", name)
            _breakers[name] = Breaker()

    def _failed(self, name: str, now: float) -> None:
        threshold = settings.COMMHUB["BREAKER_FAILURES"]
        with _lock:
            breaker = _breakers.setdefault(name, Breaker())
            breaker.failures += 1
            reopen = breaker.probing or (breaker.opened_at is None and breaker.failures >= threshold)
            breaker.probing = False
            if reopen:
                breaker.opened_at = now
                logger.warning("provider %s: circuit open after %d consecutive failures", name, breaker.failures)

    def send(self, message: OutboundMessage) -> SendResult:
        last_error: DeliveryError | None = None
        for provider in self.providers:
            now = time.monotonic()
            if not self._may_try(provider.name, now):
                continue
            try:
                result = provider.send(message)
            except TransientError as exc:
                self._failed(provider.name, now)
                if exc.ambiguous:
                    raise  # it may have been sent: no second provider; the pipeline decides
                logger.info("provider %s failed (%s); trying the next one", provider.name, exc.message)
                last_error = exc
                continue
            except DeliveryError:
                self._succeeded(provider.name)  # the provider answered: a refusal is about the message, not its health
                raise
            self._succeeded(provider.name)
            return replace(result, provider=provider.name)
        if last_error is not None:
            raise last_error
        raise TransientError(f"every {self.channel} provider is unavailable (circuits open)", code="circuit_open")
