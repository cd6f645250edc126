"""The push channel: a message goes to every browser (Web Push) and app install (FCM) its recipient registered
through /api/v1/me/push/. A person is reachable by push when they have at least one; a message succeeds when at
least one push service takes it. A browser or device the push service says is gone is forgotten, and when none
is left the message fails for good, so the type's fallback channel (e.g. SMS) carries it. Quiet hours apply by
default (a push buzzes a phone at night, like an SMS).

In the embedded mode (PUSH_PROVIDER=capture) each would-be push is stored as a captured message instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from commhub.channels import MESSAGE, RegisteredTargets, register
from notifications.channels.base import OutboundMessage, PermanentError, Provider, SendResult, TransientError
from notifications.channels.failover import FailoverProvider
from notifications.models import CapturedMessage, Notification

from . import fcm, services, vapid
from .models import DeviceToken, PushSubscription
from .outcome import GONE, PERMANENT, SENT, TRANSIENT, Outcome
from .selectors import push_reachable
from .webpush import WebPushSender

# Web Push carries at most 4096 bytes encrypted (RFC 8291: 3993 of payload); FCM 4000 bytes of notification.
MAX_PAYLOAD_BYTES = 3800


@dataclass(frozen=True)
class PushPayload:
    notification_id: str
    title: str
    body: str
    url: str
    urgent: bool

    def as_dict(self) -> dict[str, str]:
        """What the service worker (push/static/push/sw.js) or the app receives: the notification to show."""
        return {"title": self.title, "body": self.body, "url": self.url, "notification": self.notification_id}

    def web_data(self) -> bytes:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def payload_of(message: OutboundMessage) -> PushPayload:
    """The rendered message as a push, its body shortened to fit what a push service carries."""
    payload = PushPayload(message.notification_id, message.title, message.body, message.action_url, message.critical)
    excess = len(payload.web_data()) - MAX_PAYLOAD_BYTES
    if excess > 0:
        body = message.body.encode()[: max(0, len(message.body.encode()) - excess - 3)].decode(errors="ignore")
        payload = PushPayload(payload.notification_id, payload.title, body + "…", payload.url, payload.urgent)
    return payload


class CaptureSender:
    """The embedded mode: each browser's or device's push is stored, not sent."""

    def close(self) -> None:
        pass

    def send(self, target: PushSubscription | DeviceToken, payload: PushPayload) -> Outcome:
        to = target.endpoint if isinstance(target, PushSubscription) else f"fcm:{target.token}"
        captured = CapturedMessage.objects.create(
            channel="push",
            notification_id=payload.notification_id or None,
            to=to[:998],
            subject=payload.title[:998],
            body=payload.body,
            headers={"url": payload.url},
            message_id=f"push-{uuid.uuid4()}",
        )
        return Outcome(SENT, message_id=captured.message_id)


class PushProvider(Provider):
    name = "push"
    channel = "push"

    def __init__(self) -> None:
        self.capture = CaptureSender() if settings.PUSH_PROVIDER == "capture" else None
        self._web: WebPushSender | None = None
        self._fcm: fcm.FcmSender | None = None

    def close(self) -> None:
        for sender in (self._web, self._fcm):
            if sender is not None:
                sender.close()
        self._web = self._fcm = None

    def _send_one(self, target: PushSubscription | DeviceToken, payload: PushPayload) -> Outcome:
        if self.capture is not None:
            return self.capture.send(target, payload)
        if isinstance(target, PushSubscription):
            if not vapid.configured():
                return Outcome(PERMANENT, "no VAPID_PRIVATE_KEY: browsers cannot be reached", code="no_vapid")
            self._web = self._web or WebPushSender()
            return self._web.send(target, payload.web_data(), urgent=payload.urgent)
        if not fcm.configured():
            return Outcome(PERMANENT, "no FCM_CREDENTIALS_FILE: apps cannot be reached", code="no_fcm")
        self._fcm = self._fcm or fcm.FcmSender()
        data = {"notification_id": payload.notification_id, "url": payload.url}
        body = fcm.message_body(target, title=payload.title, body=payload.body, data=data, urgent=payload.urgent)
        return self._fcm.send(target, body)

    def build_payload(self, message: OutboundMessage) -> PushPayload:
        return payload_of(message)

    def transport(self, payload: PushPayload) -> list[tuple[PushSubscription | DeviceToken, Outcome]]:
        recipient = Notification.objects.filter(pk=payload.notification_id).values("recipient_id")
        targets: list[PushSubscription | DeviceToken] = [
            *PushSubscription.objects.filter(recipient_id__in=recipient).order_by("id"),
            *DeviceToken.objects.filter(recipient_id__in=recipient).order_by("id"),
        ]
        if not targets:
            raise PermanentError("recipient has no push subscription or device any more", code="unreachable")
        results = [(target, self._send_one(target, payload)) for target in targets]
        _forget_and_stamp(results)
        return results

    def parse_result(self, response: Any, payload: PushPayload, message: OutboundMessage) -> SendResult:
        outcomes = [outcome for _, outcome in response]
        sent = [o for o in outcomes if o.kind == SENT]
        if sent:
            return SendResult(
                provider_message_id=f"push-{payload.notification_id}",
                status=f"taken by {len(sent)} of {len(outcomes)} push targets",
            )
        transient = [o for o in outcomes if o.kind == TRANSIENT]
        if transient:  # nobody has it yet; a retry sends to those that refused for now
            waits = [o.retry_after for o in transient if o.retry_after]
            raise TransientError(
                transient[0].detail,
                code=transient[0].code,
                ambiguous=transient[0].ambiguous,
                retry_after=max(waits) if waits else None,
            )
        if all(o.kind == GONE for o in outcomes):
            raise PermanentError("every push subscription and device is gone", code="unreachable")
        first = next(o for o in outcomes if o.kind != GONE)
        raise PermanentError(first.detail, code=first.code)


def _forget_and_stamp(results: Sequence[tuple[PushSubscription | DeviceToken, Outcome]]) -> None:
    def ids(model: type, kind: str) -> list[int]:
        return [t.pk for t, o in results if isinstance(t, model) and o.kind == kind]

    services.targets_gone(subscription_ids=ids(PushSubscription, GONE), device_ids=ids(DeviceToken, GONE))
    services.targets_sent(subscription_ids=ids(PushSubscription, SENT), device_ids=ids(DeviceToken, SENT))


class PushChannel(RegisteredTargets):
    name = "push"
    label = "Push"
    address_label = "push subscription"
    address_word = "push to"
    parts = ("title", "text", "action_url")
    cost_unit = MESSAGE
    default_price = Decimal("0")  # Web Push and FCM charge nothing; counted all the same
    quiet_hours = True

    def reachable(self, recipient_ids: list[int]) -> set[int]:
        return push_reachable(recipient_ids)

    def content_problems(self, parts: Mapping[str, str]) -> dict[str, list[str]]:
        if not parts.get("title"):
            return {"title": ["A push notification needs a title."]}
        return {}

    def providers(self) -> FailoverProvider:
        return FailoverProvider([PushProvider()])


PUSH = register(PushChannel())
