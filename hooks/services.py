"""Registering a person's webhook endpoints and rotating their secrets."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from commhub.errors import InvalidInput
from notifications.staff_alerts import staff_alert_send
from preferences.models import Recipient

from .models import WebhookEndpoint
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


def endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Change the URL, description or whether it is enabled (enabling again clears why it was disabled and starts
    its failing streak afresh: one more failure must not disable it again at once)."""
    if "url" in fields:
        fields["url"] = _checked(fields["url"])
    if fields.get("enabled"):
        fields |= {"disabled_reason": "", "failing_since": None}
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=sorted(fields))
    return endpoint


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one keeps signing too for WEBHOOK_SECRET_OVERLAP_HOURS, so the receiver can switch."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["previous_secret", "previous_secret_until", "secret"])
    return endpoint


def signing_keys(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one while the overlap lasts."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > timezone.now():
        keys.append(endpoint.previous_secret)
    return keys


def endpoint_answered(*, endpoint_id: int, ok: bool, said: str, gone: bool = False) -> None:
    """Record an endpoint's answer. A 410 (the receiver says it is gone for good) disables it; so does failing
    without a success for WEBHOOK_DISABLE_AFTER_HOURS, and then staff are told."""
    now = timezone.now()
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
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
        endpoint = endpoints.select_related("recipient").get()
        transaction.on_commit(lambda: _tell_staff(endpoint, reason))


def _tell_staff(endpoint: WebhookEndpoint, reason: str) -> None:
    staff_alert_send(
        organisation_id=endpoint.organisation_id,
        subject=f"Webhook endpoint disabled: {endpoint.url[:120]}",
        message=f"The webhook endpoint {endpoint.url} of {endpoint.recipient.external_id} was disabled: {reason}. "
        "Enable it again in the admin (Webhook endpoints) or through the API once it answers.",
        about=f"webhook endpoint {endpoint.pk}",
    )
