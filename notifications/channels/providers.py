"""Each sender thread's provider chains, one per channel, built from the channel's spec and the settings.

Providers hold keep-alive HTTP sessions, which are not thread-safe: one set per thread. A settings change
bumps the generation so every thread rebuilds its providers on next use.
"""

from __future__ import annotations

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver

from commhub import channels

from .base import Provider
from .failover import reset_breakers

_local = threading.local()
_generation = 0


def provider_for(channel: str) -> Provider:
    """This thread's provider chain for `channel` (see failover.py: paced, failing over when there are several)."""
    if getattr(_local, "generation", None) != _generation:
        _close_local()
        _local.instances, _local.generation = {}, _generation
    provider = _local.instances.get(channel)
    if provider is None:
        provider = _local.instances[channel] = channels.get(channel).providers()
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
        setting.startswith(("TWILIO_", "PUSH_", "VAPID_", "FCM_"))
    ):
        reset_providers()
