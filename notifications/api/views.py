"""The v1 notifications API: thin views that validate, call a service and serialize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.conf import knobs
from commhub.filters import ChannelFilter, StrictFilterSet, UtcDateTimeFilter
from commhub.permissions import require_perms
from notifications import selectors, services
from notifications.constants import Status
from notifications.idempotency import idempotent
from notifications.models import Notification

from .serializers import (
    AcceptedOutput,
    BatchInput,
    NotificationDetailOutput,
    NotificationOutput,
    NotificationTypeOutput,
    PlainSendItem,
    SendInput,
    accepted_output,
)


class NotificationFilter(StrictFilterSet):
    status = filters.MultipleChoiceFilter(choices=Status.choices)
    channel = ChannelFilter()
    type = filters.CharFilter(field_name="notification_type__key")
    recipient = filters.CharFilter(field_name="recipient__external_id")
    queue = filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Notification
        fields = ["status", "channel", "type", "recipient", "queue", "created_after", "created_before"]


class SubmitInput(Protocol):
    """An input serializer that turns into a submit request (SendInput, the contract's send input); `plain`
    reads the common item without it."""

    plain: PlainSendItem

    def is_valid(self, *, raise_exception: bool = False) -> bool: ...

    @property
    def errors(self) -> Any: ...

    def to_submit_request(self) -> services.SubmitRequest: ...


_NOT_AN_OBJECT = "Each item must be a JSON object."


def send_request(raw: Any, input_class: Callable[..., SubmitInput] = SendInput) -> services.SubmitRequest | dict:
    """One send as `input_class` reads it (the common shape without a serializer: see PlainSendItem), or its
    field errors."""
    request = input_class.plain.request(raw)  # type: ignore[attr-defined]
    if request is not None:
        return request
    item = input_class(data=raw)
    return item.to_submit_request() if item.is_valid() else item.errors


def batch_item_requests(
    raw_items: list, input_class: Callable[..., SubmitInput] = SendInput
) -> tuple[list[services.SubmitRequest | None], dict[int, dict]]:
    """Parse each raw batch item on its own (with `input_class`, which has to_submit_request()): a
    malformed item gets its own errors, not the batch's."""
    requests: list[services.SubmitRequest | None] = []
    errors: dict[int, dict] = {}
    for index, raw in enumerate(raw_items):
        read = send_request(raw, input_class) if isinstance(raw, dict) else {"non_field_errors": [_NOT_AN_OBJECT]}
        if isinstance(read, services.SubmitRequest):
            requests.append(read)
        else:
            requests.append(None)
            errors[index] = read
    return requests, errors


def batch_shape_problems(items: Any) -> list[str] | None:
    """What makes a batch unusable as a whole: not a non-empty list, or more than COMMHUB_BATCH_MAX_ITEMS items.
    Each item's own content (even one that is not an object) fails or succeeds on its own."""
    if not isinstance(items, list) or not items:
        return ["A non-empty list is required."]
    limit = knobs().batch_max_items
    if len(items) > limit:
        return [f"At most {limit} items per batch; got {len(items)}."]
    return None


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Send, list, inspect, cancel and retry notifications."""

    filterset_class = NotificationFilter
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    @property
    def throttle_scope(self) -> str | None:
        """Sends draw from the client's sends bucket (commhub.throttling), the rest from its requests bucket."""
        return "sends" if getattr(self, "action", None) in ("create", "batch") else None

    def get_permissions(self):
        perms = {
            "create": ("notifications.send_notification",),
            "batch": ("notifications.send_notification",),
            "cancel": ("notifications.cancel_notification",),
            "retry": ("notifications.retry_notification",),
        }.get(self.action, ("notifications.view_notification",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.notifications_for_api().prefetch_related("attempts_log", "fallbacks")
        return selectors.notifications_for_api()

    def get_serializer_class(self):
        return NotificationDetailOutput if self.action == "retrieve" else NotificationOutput

    @extend_schema(
        request=SendInput,
        responses={202: AcceptedOutput},
        examples=[
            OpenApiExample(
                "A payment reminder by SMS",
                request_only=True,
                value={
                    "recipient": "123",
                    "type": "payment_reminder",
                    "data": {"bill_name": "Rent", "amount": "$1,200", "due_date": "June 1"},
                    "channel": "sms",
                },
            ),
            OpenApiExample(
                "A new recipient, created with the send",
                request_only=True,
                value={
                    "recipient": {"external_id": "789", "email": "sam@example.com", "locale": "en"},
                    "type": "monthly_report",
                    "data": {"month": "May", "summary": "You saved $240."},
                },
            ),
        ],
    )
    @idempotent
    def create(self, request):
        read = send_request(request.data)
        if not isinstance(read, services.SubmitRequest):
            raise serializers.ValidationError(read)
        notification = services.notification_submit(read, submitted_by=request.user)
        return Response(accepted_output(notification), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=BatchInput,
        responses={
            200: inline_serializer(
                "BatchOutput",
                {
                    "summary": serializers.DictField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def batch(self, request):
        """Submit up to COMMHUB_BATCH_MAX_ITEMS notifications; each item succeeds or fails on its own."""
        # Each item is validated once, by SendInput below; a ListField(child=JSONField()) would first
        # re-serialise every item just to check it is JSON (it is: it came from the parser).
        raw_items = request.data.get("notifications") if isinstance(request.data, dict) else None
        problems = batch_shape_problems(raw_items)
        if problems or not isinstance(raw_items, list):
            raise serializers.ValidationError({"notifications": problems})
        parsed, errors = batch_item_requests(raw_items)
        valid = [(i, r) for i, r in enumerate(parsed) if r is not None]
        outcomes = services.notifications_submit_batch([r for _, r in valid], submitted_by=request.user)
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            if not outcome.ok:
                errors[index] = outcome.errors
        by_index = {index: outcome for (index, _), outcome in zip(valid, outcomes, strict=True)}
        results: list[dict[str, Any]] = []
        for index in range(len(raw_items)):
            found = by_index.get(index)
            n = found.notification if found is not None else None
            if n is not None:
                results.append(
                    {
                        "index": index,
                        "success": True,
                        "id": str(n.pk),
                        "status": n.status,
                        "channel": n.channel,
                        "cost": str(n.cost) if n.cost is not None else None,
                        **({"reason": n.last_error} if n.status == Status.SUPPRESSED else {}),
                    }
                )
            else:
                results.append({"index": index, "success": False, "errors": errors[index]})
        accepted = sum(1 for r in results if r["success"])
        suppressed = sum(r.get("status") == Status.SUPPRESSED for r in results)
        return Response(
            {
                "summary": {
                    "total": len(results),
                    "accepted": accepted,
                    "rejected": len(results) - accepted,
                    "suppressed": suppressed,
                },
                "results": results,
            },
            status=status.HTTP_200_OK,
        )

    @extend_schema(request=None, responses={200: NotificationOutput, 409: OpenApiResponse(description="Too late")})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        self.get_object()  # 404 for an id the caller cannot see
        notification = services.notification_cancel(notification_id=pk, actor=request.user)
        return Response(NotificationOutput(notification).data)

    @extend_schema(request=None, responses={202: NotificationOutput, 409: OpenApiResponse(description="Not failed")})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        self.get_object()
        notification = services.notification_retry(notification_id=pk, actor=request.user)
        return Response(NotificationOutput(notification).data, status=status.HTTP_202_ACCEPTED)


class NotificationTypeViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue of notification types (edited by staff in the admin)."""

    serializer_class = NotificationTypeOutput
    lookup_field = "key"
    pagination_class = None
    permission_classes = [require_perms("notifications.view_notificationtype")]

    def get_queryset(self):
        return selectors.notification_types_all()
