"""Which provider serves which channel, from settings. Add a provider by adding a class and a line here."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import Provider
from .capture import CaptureSmsProvider
from .email import EmailProvider
from .failover import FailoverProvider, reset_breakers
from .sms import TwilioSmsProvider, twilio_client

_SMS_PROVIDERS: dict[str, type[Provider]] = {"capture": CaptureSmsProvider, "twilio": TwilioSmsProvider}

# Providers hold keep-alive HTTP sessions, which are not thread-safe: one set per thread. A settings
# change bumps the generation so every thread rebuilds its providers on next use.
_local = threading.local()
_generation = 0


def _build(channel: str) -> Provider:
    """The channel's chain of senders (see failover.py): paced, and failing over when there are several."""
    if channel == "email":
        fallbacks = getattr(settings, "EMAIL_FALLBACK_BACKENDS", [])
        return FailoverProvider([EmailProvider(), *(EmailProvider(backend) for backend in fallbacks)])
    if channel == "sms":
        if settings.SMS_PROVIDER == "twilio":
            client = twilio_client()  # one HTTP session for every sender number of this thread
            senders = settings.TWILIO_SENDERS or [None]
            return FailoverProvider([TwilioSmsProvider(client, from_=sender) for sender in senders])
        return FailoverProvider([_SMS_PROVIDERS[settings.SMS_PROVIDER]()])
    raise LookupError(f"no provider for channel {channel!r}")


def provider_for(channel: str) -> Provider:
    """This thread's provider for `channel`."""
    if getattr(_local, "generation", None) != _generation:
        _close_local()
        _local.instances, _local.generation = {}, _generation
    provider = _local.instances.get(channel)
    if provider is None:
        provider = _local.instances[channel] = _build(channel)
    return provider


def _close_local() -> None:
    for provider in getattr(_local, "instances", {}).values():
        provider.close()
    _local.instances = {}


def reset_providers() -> None:
    """Drop every thread's providers (they are rebuilt from settings on next use)."""
    global _generation
    _generation += 1
    _close_local()
    reset_breakers()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting in {"EMAIL_BACKEND", "EMAIL_FALLBACK_BACKENDS", "ANYMAIL", "SMS_PROVIDER", "DEFAULT_FROM_EMAIL"} or (
        setting.startswith("TWILIO_")
    ):
        reset_providers()
