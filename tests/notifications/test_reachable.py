"""Which people a registered-targets channel (push, webhook) can reach: read for a whole batch at once, the answer
must be what reading each person alone gives."""

from __future__ import annotations

import pytest

from commhub import channels
from hooks.models import WebhookEndpoint
from hooks.selectors import recipients_with_endpoints
from hooks.signing import new_secret
from push.models import PushSubscription
from push.selectors import push_reachable
from push.services import device_register
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db


def _endpoint(recipient, *, enabled: bool) -> None:
    WebhookEndpoint.objects.create(
        organisation_id=recipient.organisation_id,
        recipient=recipient,
        url=f"https://hooks.example/{recipient.external_id}",
        secret=new_secret(),
        enabled=enabled,
    )


def test_a_batch_read_of_who_is_reachable_equals_one_person_at_a_time():
    browser, phone, both, hooked, hook_off, nobody = (RecipientFactory() for _ in range(6))
    for who in (browser, both):
        PushSubscription.objects.create(
            organisation_id=who.organisation_id,
            recipient=who,
            endpoint=f"https://fcm.googleapis.com/fcm/send/{who.external_id}",
            p256dh="B" + "A" * 86,
            auth="A" * 22,
        )
    for who in (phone, both):
        device_register(recipient=who, token=f"{who.external_id}-fcm-token", platform="android")
    _endpoint(hooked, enabled=True)
    _endpoint(hook_off, enabled=False)
    everyone = [browser, phone, both, hooked, hook_off, nobody]
    ids = [r.pk for r in everyone]

    assert push_reachable([*ids, None]) == {browser.pk, phone.pk, both.pk}
    assert recipients_with_endpoints(ids) == {hooked.pk}
    assert push_reachable([]) == set() and recipients_with_endpoints([]) == set()
    assert {i for i in ids if push_reachable([i])} == push_reachable(ids)
    assert {i for i in ids if recipients_with_endpoints([i])} == recipients_with_endpoints(ids)

    channels.preload(everyone)  # the batch submit's read, kept on each instance
    for name in ("push", "webhook"):
        batch = [r.address_for(name) for r in everyone]
        alone = [type(r).objects.get(pk=r.pk).address_for(name) for r in everyone]
        assert batch == alone
    assert [r.address_for("push") for r in everyone] == [r.external_id for r in everyone[:3]] + ["", "", ""]
