from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from costs.models import PricingRule
from notifications.models import NotificationType, TypeChannel
from templates_app.models import Template
from templates_app.services import version_create, version_publish
from tests.fakes.receiver import Receiver


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A local receiver, let through the SSRF guard by name (as a development receiver would be)."""
    fake = Receiver().start()
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield fake
    fake.stop()


def _publish(ntype: NotificationType, channel: str, **parts) -> None:
    template = Template.objects.create(notification_type=ntype, channel=channel, locale="en")
    variables = [{"name": "event", "type": "string", "required": True, "sample": "invoice.paid"}]
    version_publish(version=version_create(template=template, variables=variables, **parts))


@pytest.fixture
def partner_update(catalogue):
    """A type sent to a person's systems by webhook, by email when they have none; a price per webhook."""
    ntype = NotificationType.objects.create(
        key="partner_update", name="Partner update", default_channel="webhook", fallback_channel="email", tier="daily"
    )
    for channel in ("webhook", "email"):
        TypeChannel.objects.create(notification_type=ntype, channel=channel, rate_limit_per_minute=600)
    _publish(ntype, "webhook", text='{"event": {{ event | tojson }}, "account": {{ recipient.external_id | tojson }}}')
    _publish(ntype, "email", subject="Update: {{ event }}", text="Something happened: {{ event }}.")
    PricingRule._base_manager.filter(channel="webhook").update(price=Decimal("0.0004"))  # the channel's default: 0
    return ntype
