"""Which provider serves which channel, from settings. Add a provider by adding a class and a line here."""

from __future__ import annotations

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import Provider
from .capture import CaptureSmsProvider
from .email import EmailProvider
from .sms import TwilioSmsProvider

_SMS_PROVIDERS: dict[str, type[Provider]] = {"capture": CaptureSmsProvider, "twilio": TwilioSmsProvider}

_instances: dict[str, Provider] = {}


def _build(channel: str) -> Provider:
    if channel == "email":
        return EmailProvider()
    if channel == "sms":
        return _SMS_PROVIDERS[settings.SMS_PROVIDER]()
    raise LookupError(f"no provider for channel {channel!r}")


def provider_for(channel: str) -> Provider:
    """This process's provider for `channel` (built once: it holds keep-alive HTTP sessions)."""
    provider = _instances.get(channel)
    if provider is None:
        provider = _instances[channel] = _build(channel)
    return provider


def reset_providers() -> None:
    for provider in _instances.values():
        provider.close()
    _instances.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting in {"EMAIL_BACKEND", "ANYMAIL", "SMS_PROVIDER", "DEFAULT_FROM_EMAIL"} or setting.startswith("TWILIO_"):
        reset_providers()
