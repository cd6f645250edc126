"""Adding a channel is one module plus its registration: this file is that module, for a test-only "log"
channel (its provider appends to a list). Nothing else in commhub knows about it, and still it is sent to,
refused by a preference, deferred by quiet hours when they are configured for it, priced, and explained in the
decision trace, like email and SMS."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from commhub.channels import MESSAGE, ChannelSpec, register, unregister
from costs.models import CostEntry, PricingRule
from notifications.channels.base import OutboundMessage, Provider, SendResult
from notifications.channels.failover import FailoverProvider
from notifications.channels.providers import reset_providers
from notifications.constants import Status
from notifications.decision import DecisionContext
from notifications.delivery import queue_drain
from notifications.models import Notification, NotificationType, TypeChannel
from notifications.services import SubmitRequest, notification_prepare, notification_submit
from preferences.services import preference_set
from templates_app.models import Template
from templates_app.services import version_create, version_publish
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db

LOGBOOK: list[dict[str, str]] = []  # what the log channel "delivered"


class LogbookProvider(Provider):
    name = "logbook"
    channel = "log"

    def build_payload(self, message: OutboundMessage) -> dict[str, str]:
        return {"to": message.to, "text": message.body, "notification": message.notification_id}

    def transport(self, payload: dict[str, str]) -> int:
        LOGBOOK.append(payload)
        return len(LOGBOOK)

    def parse_result(self, response: Any, payload: Any, message: OutboundMessage) -> SendResult:
        return SendResult(provider_message_id=f"log-{response}")


class LogChannel(ChannelSpec):
    name = "log"
    label = "Log"
    address_label = "logbook page"
    address_word = "logbook page"
    parts = ("text",)
    cost_unit = MESSAGE

    def address_for(self, recipient: Any) -> str:
        return (recipient.attributes or {}).get("logbook", "")

    def providers(self) -> FailoverProvider:
        return FailoverProvider([LogbookProvider()])


@pytest.fixture
def log_channel(db):
    register(LogChannel())
    LOGBOOK.clear()
    reset_providers()
    yield
    unregister("log")
    reset_providers()


@pytest.fixture
def audit_note(log_channel):
    """A type that may only use the log channel, its published template and the channel's price."""
    ntype = NotificationType.objects.create(
        key="audit_note", name="Audit note", default_channel="log", tier="daily", respects_quiet_hours=True
    )
    TypeChannel.objects.create(notification_type=ntype, channel="log", rate_limit_per_minute=100)
    template = Template.objects.create(notification_type=ntype, channel="log", locale="en")
    variables = [{"name": "what", "type": "string", "required": True, "sample": "a login"}]
    version = version_create(
        template=template, text="Noted for {{ recipient.external_id }}: {{ what }}", variables=variables
    )
    version_publish(version=version)
    PricingRule.objects.create(channel="log", unit=MESSAGE, price=Decimal("0.002"), currency="USD")
    return ntype


@pytest.fixture
def reader(db):
    return RecipientFactory(external_id="reader", attributes={"logbook": "page-7"}, timezone="Europe/Paris")


def submit(**overrides):
    return notification_submit(
        SubmitRequest(recipient="reader", type="audit_note", data={"what": "a login"}, **overrides)
    )


def test_a_log_notification_is_sent_priced_and_explained(audit_note, reader):
    n = submit()
    assert n.status == Status.QUEUED and n.queue == "log_daily" and n.to_address == "page-7"
    assert {"check": "channel", "outcome": "pass", "reason": "log is audit_note's default channel"} in n.decision_trace
    suppression = next(s for s in n.decision_trace if s["check"] == "suppression")
    assert suppression["reason"] == "logbook page page-7 is not suppressed"

    result = queue_drain(queue="log_daily", threads=1)

    assert result.sent == 1
    assert [{"to": "page-7", "text": "Noted for reader: a login", "notification": str(n.pk)}] == LOGBOOK
    sent = Notification.objects.get(pk=n.pk)
    assert (sent.status, sent.provider, sent.provider_message_id) == (Status.SENT, "logbook", "log-1")
    entry = CostEntry.objects.get(notification=sent)
    assert (entry.channel, entry.units, entry.amount, entry.currency) == ("log", 1, Decimal("0.002"), "USD")


def test_a_preference_turns_the_log_channel_off(audit_note, reader):
    preference_set(recipient=reader, enabled=False, channel="log")
    n = submit()
    assert n.status == Status.SUPPRESSED and n.error_code == "preference_off"
    assert "recipient turned off all notifications by log" in n.last_error
    assert queue_drain(queue="log_daily", threads=1).sent == 0 and LOGBOOK == []


def test_quiet_hours_defer_the_log_channel_when_configured_for_it(audit_note, reader, settings):
    night = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    request = SubmitRequest(recipient="reader", type="audit_note", data={"what": "a login"})

    by_default = notification_prepare(request, now=night, context=DecisionContext())
    assert by_default.status == Status.QUEUED  # the spec says quiet hours do not apply to it
    assert {"check": "quiet_hours", "outcome": "pass", "reason": "quiet hours do not apply to log"} in (
        by_default.decision_trace
    )

    settings.COMMHUB = {**settings.COMMHUB, "QUIET_HOURS_CHANNELS": ["sms", "log"]}
    deferred = notification_prepare(request, now=night, context=DecisionContext())
    assert (deferred.status, deferred.send_at) == (Status.SCHEDULED, datetime(2026, 6, 11, 6, 0, tzinfo=UTC))
    step = next(s for s in deferred.decision_trace if s["check"] == "quiet_hours")
    assert step["outcome"] == "defer" and "Europe/Paris is outside the send window 08:00-21:00" in step["reason"]


def test_the_type_may_not_use_a_channel_it_has_no_row_for(audit_note, reader):
    from commhub.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        submit(channel="email")
    assert refused.value.errors == {"channel": ["audit_note may not be sent by email; allowed: log."]}
