"""Registering and forgetting where a person's push notifications go.

A person has at most MAX_PER_PERSON browsers and as many devices: registering one more forgets the oldest (a
person who reinstalls an app every week does not make every message fan out to dead tokens). The same
endpoint or token registered by someone else in the organisation moves to them (a shared device changed hands).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from commhub.errors import InvalidInput
from preferences.models import Recipient

from .models import DeviceToken, PushSubscription

MAX_PER_PERSON = 20


def endpoint_allowed(endpoint: str) -> bool:
    """Whether a subscription's endpoint names a push service (PUSH_ENDPOINT_HOSTS) over https, or over http
    only for a host listed with its port (a local fake)."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    for allowed in settings.PUSH_ENDPOINT_HOSTS:
        allowed = allowed.lower()
        if ":" in allowed:  # host:port, a local push service: exactly that origin, http allowed
            if parts.netloc.lower() == allowed and parts.scheme in ("http", "https"):
                return True
        elif parts.scheme == "https" and (host == allowed or (allowed.startswith(".") and host.endswith(allowed))):
            return True
    return False


def _keep_newest(model: type[PushSubscription] | type[DeviceToken], recipient: Recipient) -> None:
    stale = model.objects.filter(recipient=recipient).order_by("-created_at", "-id").values_list("pk", flat=True)
    extra = list(stale[MAX_PER_PERSON:])
    if extra:
        model.objects.filter(pk__in=extra).delete()


def subscription_register(
    *, recipient: Recipient, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Remember a browser's subscription for `recipient` (the same endpoint again updates its keys)."""
    if not endpoint_allowed(endpoint):
        hosts = ", ".join(settings.PUSH_ENDPOINT_HOSTS)
        raise InvalidInput({"endpoint": [f"Not a push service's https URL (allowed hosts: {hosts})."]})
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            organisation_id=recipient.organisation_id,
            endpoint=endpoint,
            defaults={
                "recipient": recipient,
                "p256dh": p256dh,
                "auth": auth,
                "user_agent": user_agent[:255],
                "created_at": timezone.now(),
            },
        )
        _keep_newest(PushSubscription, recipient)
    return subscription, created


def device_register(*, recipient: Recipient, token: str, platform: str) -> tuple[DeviceToken, bool]:
    """Remember an app install's FCM token for `recipient`."""
    with transaction.atomic():
        device, created = DeviceToken.objects.update_or_create(
            organisation_id=recipient.organisation_id,
            token=token,
            defaults={"recipient": recipient, "platform": platform, "created_at": timezone.now()},
        )
        _keep_newest(DeviceToken, recipient)
    return device, created


def targets_gone(*, subscription_ids: Iterable[int] = (), device_ids: Iterable[int] = ()) -> None:
    """The push service said these no longer exist (404/410, UNREGISTERED): forget them."""
    if ids := list(subscription_ids):
        PushSubscription.objects.filter(pk__in=ids).delete()
    if ids := list(device_ids):
        DeviceToken.objects.filter(pk__in=ids).delete()


def targets_sent(*, subscription_ids: Iterable[int] = (), device_ids: Iterable[int] = ()) -> None:
    now = timezone.now()
    if ids := list(subscription_ids):
        PushSubscription.objects.filter(pk__in=ids).update(last_sent_at=now)
    if ids := list(device_ids):
        DeviceToken.objects.filter(pk__in=ids).update(last_sent_at=now)
