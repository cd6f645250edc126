"""Registering endpoints (a person's, for the webhook channel; a product backend's, for lifecycle events),
rotating their secrets, recording how they answer, replaying events."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from commhub.channels import names as channel_names
from commhub.errors import InvalidInput
from commhub.tenancy import DEFAULT_ORGANISATION_ID
from notifications.lifecycle import EVENTS
from notifications.selectors import notification_type_by_key
from notifications.staff_alerts import staff_alert_send
from preferences.models import Recipient

from .models import EventDelivery, EventSubscription, SignedEndpoint, WebhookEndpoint
from .outbound import UnsafeUrl, check_url
from .signing import new_secret


def _checked(url: str) -> str:
    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise InvalidInput({"url": [str(exc)]}) from None
    return url


def endpoint_create(*, recipient: Recipient, url: str, description: str = "") -> WebhookEndpoint:
    """A new endpoint for `recipient` with a new secret (returned once, to the caller that registers it)."""
    return WebhookEndpoint.objects.create(
        organisation_id=recipient.organisation_id,
        recipient=recipient,
        url=_checked(url),
        description=description,
        secret=new_secret(),
    )


def _event_filters(organisation_id: int, *, events=None, notification_types=None, channels=None) -> dict:
    """The subscription's filters, checked: known event names ("sent" or "notification.sent"), the organisation's
    type keys, registered channels. Only those given are returned."""
    errors: dict[str, list[str]] = {}
    fields: dict[str, list[str]] = {}
    if events is not None:
        names = sorted({str(e).removeprefix("notification.") for e in events})
        if unknown := [n for n in names if n not in EVENTS]:
            errors["events"] = [f"Unknown event(s): {', '.join(unknown)}. Known: {', '.join(EVENTS)}."]
        fields["events"] = names
    if notification_types is not None:
        keys = sorted({str(k) for k in notification_types})
        if unknown := [k for k in keys if notification_type_by_key(k, organisation_id=organisation_id) is None]:
            errors["notification_types"] = [f"Unknown notification type(s): {', '.join(unknown)}."]
        fields["notification_types"] = keys
    if channels is not None:
        names = sorted({str(c) for c in channels})
        if unknown := [c for c in names if c not in channel_names()]:
            errors["channels"] = [f"Unknown channel(s): {', '.join(unknown)}. Known: {', '.join(channel_names())}."]
        fields["channels"] = names
    if errors:
        raise InvalidInput(errors)
    return fields


def subscription_create(
    *, organisation_id: int, url: str, description: str = "", events=(), notification_types=(), channels=()
) -> EventSubscription:
    """A new receiver of lifecycle events (empty filters: everything) with a new secret, returned once."""
    filters = _event_filters(organisation_id, events=events, notification_types=notification_types, channels=channels)
    return EventSubscription.objects.create(
        organisation_id=organisation_id, url=_checked(url), description=description, secret=new_secret(), **filters
    )


def endpoint_update(*, endpoint: SignedEndpoint, **fields) -> SignedEndpoint:
    """Change the URL, description, filters (a subscription's) or whether it is enabled (enabling again clears why
    it was disabled and starts its failing streak afresh: one more failure must not disable it again at once)."""
    if "url" in fields:
        fields["url"] = _checked(fields["url"])
    filters = {name: fields.pop(name) for name in ("events", "notification_types", "channels") if name in fields}
    if filters:
        fields |= _event_filters(int(endpoint.organisation_id or DEFAULT_ORGANISATION_ID), **filters)
    if fields.get("enabled"):
        fields |= {"disabled_reason": "", "failing_since": None}
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=sorted(fields))
    return endpoint


def endpoint_rotate_secret(*, endpoint: SignedEndpoint) -> SignedEndpoint:
    """A new secret; the old one keeps signing too for WEBHOOK_SECRET_OVERLAP_HOURS, so the receiver can switch."""
    with transaction.atomic():
        endpoint = type(endpoint).objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["previous_secret", "previous_secret_until", "secret"])
    return endpoint


def signing_keys(endpoint: SignedEndpoint) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one while the overlap lasts."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > timezone.now():
        keys.append(endpoint.previous_secret)
    return keys


def endpoint_answered(
    *, endpoint_id: int, ok: bool, said: str, gone: bool = False, model: type[SignedEndpoint] = WebhookEndpoint
) -> None:
    """Record an endpoint's answer. A 410 (the receiver says it is gone for good) disables it; so does failing
    without a success for WEBHOOK_DISABLE_AFTER_HOURS, and then staff are told."""
    now = timezone.now()
    endpoints = model.objects.filter(pk=endpoint_id)
    if ok:
        endpoints.update(last_answer=said[:300], last_success_at=now, failing_since=None)
        return
    fields: dict = {
        "last_answer": said[:300],
        "last_failure_at": now,
        "failing_since": Coalesce("failing_since", Value(now, output_field=DateTimeField())),
    }
    if gone:
        fields |= {"enabled": False, "disabled_reason": f"{said[:250]} ({now:%Y-%m-%d %H:%M} UTC)"}
    endpoints.update(**fields)
    hours = settings.WEBHOOK_DISABLE_AFTER_HOURS
    if gone or not hours:
        return
    reason = f"failing for over {hours:g} h, last: {said[:200]}"
    if endpoints.filter(enabled=True, failing_since__lt=now - timedelta(hours=hours)).update(
        enabled=False, disabled_reason=reason
    ):
        endpoint = endpoints.get()
        transaction.on_commit(lambda: _tell_staff(endpoint, reason))


def _tell_staff(endpoint: SignedEndpoint, reason: str) -> None:
    if isinstance(endpoint, WebhookEndpoint):
        what, whose, where = "webhook endpoint", f" of {endpoint.recipient.external_id}", "Webhook endpoints"
    else:
        what, whose, where = "event subscription", " (lifecycle events)", "Event subscriptions"
    staff_alert_send(
        organisation_id=endpoint.organisation_id,
        subject=f"{what.capitalize()} disabled: {endpoint.url[:120]}",
        message=f"The {what} {endpoint.url}{whose} was disabled: {reason}. "
        f"Enable it again in the admin ({where}) or through the API once it answers.",
        about=f"{what} {endpoint.pk}",
    )


def deliveries_replay(*, deliveries: QuerySet[EventDelivery]) -> int:
    """Send these events again, now, with their ids (receivers that deduplicate see a replay of what they
    already took as the same event): delivered, failed and waiting ones alike."""
    return deliveries.update(state=EventDelivery.State.PENDING, next_attempt_at=timezone.now(), leased_until=None)
