"""Reading where a person's push notifications go."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from commhub.sql import any_of

from .models import DeviceToken, PushSubscription


def subscriptions_of(recipient_id: int | None) -> QuerySet[PushSubscription]:
    if recipient_id is None:
        return PushSubscription.objects.none()
    return PushSubscription.objects.filter(recipient_id=recipient_id)


def devices_of(recipient_id: int | None) -> QuerySet[DeviceToken]:
    if recipient_id is None:
        return DeviceToken.objects.none()
    return DeviceToken.objects.filter(recipient_id=recipient_id)


def push_reachable(recipient_ids: Iterable[int]) -> set[int]:
    """Which of these people have at least one browser or device to push to (two queries however many)."""
    ids = [i for i in set(recipient_ids) if i is not None]
    if not ids:
        return set()
    found = set(PushSubscription.objects.filter(any_of("recipient_id", ids)).values_list("recipient_id", flat=True))
    rest = [i for i in ids if i not in found]
    if rest:
        found.update(DeviceToken.objects.filter(any_of("recipient_id", rest)).values_list("recipient_id", flat=True))
    return found
