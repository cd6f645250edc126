"""factory_boy factories for the models tests build directly."""

from __future__ import annotations

import factory

from notifications.services import SubmitRequest, notification_submit
from preferences.models import ConsentAction, ConsentSource, Recipient
from preferences.services import Evidence, consent_record

ALERT = {"amount": "$120.00", "account": "checking"}


def submit(**kwargs):
    """Submit a notification through the real service; defaults to a financial alert for recipient 123."""
    kwargs.setdefault("recipient", "123")
    kwargs.setdefault("type", "financial_alert")
    kwargs.setdefault("data", ALERT)
    return notification_submit(SubmitRequest(**kwargs))


class RecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recipient
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda r: f"{r.external_id}@example.com")
    phone = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    timezone = "America/New_York"
    locale = "en"
    attributes = factory.LazyAttribute(lambda r: {"first_name": r.external_id.title()})


def grant_marketing(recipient, *channels: str, category: str = "", at=None):
    """Record marketing consent (as the product backend would, through the API) on each channel."""
    return [
        consent_record(
            recipient=recipient,
            channel=channel,
            purpose="marketing",
            category=category,
            action=ConsentAction.GRANTED,
            evidence=Evidence(source=ConsentSource.API, consent_text="Send me tips and offers.", actor="tests"),
            at=at,
        )
        for channel in channels or ("email", "sms")
    ]
