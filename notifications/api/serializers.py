"""Input and output shapes of the notifications API (kept apart: what clients send is not what they read)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from commhub import channels
from commhub.api import ChannelField, StrictInput, holds_nul
from commhub.locales import LOCALE_PATTERN
from notifications.constants import PRIORITY_BY_NAME, Status
from notifications.models import DeliveryAttempt, Notification, NotificationType
from notifications.services import SubmitRequest
from notifications.trace import used_fallback_channel
from preferences.services import LOCAL_TIME_PATTERN


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 9},
            {"type": "string", "enum": sorted(PRIORITY_BY_NAME)},
        ],
        "description": "1 (most urgent) to 9, or one of critical, high, medium, normal, low.",
    }
)
class PriorityField(serializers.Field):
    """1 (most urgent) to 9, or one of critical / high / medium (normal) / low."""

    default_error_messages = {"invalid": "Use 1-9 or one of: critical, high, medium, normal, low."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int) and 1 <= data <= 9:
            return data
        if isinstance(data, str):
            if data.strip().isdigit() and 1 <= int(data) <= 9:
                return int(data)
            if data.strip().lower() in PRIORITY_BY_NAME:
                return PRIORITY_BY_NAME[data.strip().lower()]
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": 128, "description": "The recipient's external id."},
            {"type": "integer", "description": "A numeric external id (read as its decimal string)."},
            {
                "type": "object",
                "properties": {
                    "external_id": {"type": "string", "minLength": 1, "maxLength": 128},
                    "email": {"type": "string", "format": "email"},
                    "phone": {"type": "string", "description": "E.164, e.g. +14155550123"},
                    "timezone": {"type": "string"},
                    "locale": {"type": "string", "pattern": LOCALE_PATTERN},
                    "attributes": {"type": "object", "additionalProperties": True},
                    "send_window_start": {"type": "string", "nullable": True, "pattern": LOCAL_TIME_PATTERN},
                    "send_window_end": {"type": "string", "nullable": True, "pattern": LOCAL_TIME_PATTERN},
                },
                "required": ["external_id"],
                "additionalProperties": False,
                "description": "Creates or updates the recipient as part of the send.",
            },
        ]
    }
)
class RecipientRefField(serializers.Field):
    """A recipient's external id, or an inline object {external_id, email, phone, timezone, locale,
    attributes} that creates or updates the recipient as part of the send."""

    default_error_messages = {"invalid": "Give the recipient's external id, or an object with external_id."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or data is None:
            self.fail("invalid")
        if isinstance(data, (str, int)):
            value = str(data).strip()
            if not value or len(value) > 128:
                self.fail("invalid")
            return value
        if isinstance(data, dict):
            external_id = data.get("external_id")
            if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 128:
                raise serializers.ValidationError(
                    {"external_id": ["The recipient's external id: a non-empty string of at most 128 characters."]}
                )
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class PlainSendItem:
    """The common batch item read without a serializer: a few keys of plain JSON values, exactly as the
    serializer would read them. Anything else (a send time, an inline recipient, a value DRF would coerce or
    refuse) returns None and goes through the serializer, which words the errors. A serializer per item costs
    more than storing the row; `tests/notifications/test_batch_ingest.py` checks both readings agree."""

    def __init__(self, *, recipient: str, type_name: str, null_allowed: bool) -> None:
        self.recipient, self.type, self.null_allowed = recipient, type_name, null_allowed
        self.known = frozenset((recipient, type_name, "data", "channel", "priority"))

    def request(self, raw: Any) -> SubmitRequest | None:
        if not isinstance(raw, dict) or not self.known.issuperset(raw):
            return None
        recipient, ntype = raw.get(self.recipient), raw.get(self.type)
        if isinstance(recipient, int) and not isinstance(recipient, bool):
            recipient = str(recipient)
        if not (isinstance(recipient, str) and isinstance(ntype, str)):
            return None
        if not (_plain_text(recipient, 128) and _plain_text(ntype, 64)):
            return None
        data = raw.get("data", {})
        channel, priority = raw.get("channel"), raw.get("priority")
        if not isinstance(data, dict) or holds_nul(data):
            return None
        if channel is None and "channel" in raw and not self.null_allowed:
            return None
        if channel is not None and not (isinstance(channel, str) and channels.exists(channel)):
            return None
        if priority is None and "priority" in raw and not self.null_allowed:
            return None
        if priority is not None and (type(priority) is not int or not 1 <= priority <= 9):
            return None
        return SubmitRequest(recipient=recipient, type=ntype, data=dict(data), channel=channel, priority=priority)


def _plain_text(value: str, max_length: int) -> bool:
    """A non-empty string the serializer would take as it is (no surrounding whitespace to trim, no NUL)."""
    return 0 < len(value) <= max_length and not value[0].isspace() and not value[-1].isspace() and "\x00" not in value


class SendInput(StrictInput):
    recipient = RecipientRefField()
    type = serializers.CharField(max_length=64)
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]  # the API names it data
    channel = ChannelField(required=False)
    priority = PriorityField(required=False)
    send_at = serializers.DateTimeField(required=False, help_text="ISO 8601; later than now schedules the send.")

    plain = PlainSendItem(recipient="recipient", type_name="type", null_allowed=False)

    def to_submit_request(self) -> SubmitRequest:
        d = self.validated_data
        return SubmitRequest(
            recipient=d["recipient"],
            type=d["type"],
            data=d.get("data") or {},
            channel=d.get("channel"),
            priority=d.get("priority"),
            send_at=d.get("send_at"),
        )


class BatchInput(StrictInput):
    """Schema of the batch request (documentation; the view validates each item with SendInput)."""

    notifications = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        help_text="Up to COMMHUB_BATCH_MAX_ITEMS send requests, each as for POST /api/v1/notifications/ "
        "(recipient, type, data, channel, priority, send_at). Each item is validated on its own: one that is "
        "invalid (or not an object) is reported in results and does not stop the others.",
    )


def accepted_output(notification) -> dict:
    """What a send returns (202): enough to follow the notification; GET the detail for the rest.
    Built directly: a full ModelSerializer representation costs more than the insert."""
    n = notification
    return {
        "id": str(n.pk),
        "status": n.status,
        "recipient": n.recipient.external_id,
        "type": n.notification_type.key,
        "channel": n.channel,
        "priority": n.priority,
        "queue": n.queue,
        "send_at": n.send_at.isoformat(),
        "segments": n.segments,
        "cost": None if n.cost is None else f"{n.cost:.6f}",
        "currency": n.currency,
        "fallback_used": used_fallback_channel(n.decision_trace),
        # why the decision engine refused it (status "suppressed"); null otherwise
        "reason": n.last_error if n.status == Status.SUPPRESSED else None,
    }


class AcceptedOutput(serializers.Serializer):
    """Schema of accepted_output() (documentation only)."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    recipient = serializers.CharField()
    type = serializers.CharField()
    channel = serializers.CharField()
    priority = serializers.IntegerField()
    queue = serializers.CharField()
    send_at = serializers.DateTimeField()
    segments = serializers.IntegerField(allow_null=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    currency = serializers.CharField()
    fallback_used = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = DeliveryAttempt.PUBLIC_FIELDS


class NotificationOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id")
    type = serializers.CharField(source="notification_type.key")
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True, coerce_to_string=True)
    fallback_of = serializers.UUIDField(source="fallback_of_id", allow_null=True)
    fallback_used = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "recipient",
            "type",
            "channel",
            "priority",
            "queue",
            "status",
            "send_at",
            "created_at",
            "sent_at",
            "delivered_at",
            "failed_at",
            "cancelled_at",
            "attempts",
            "max_attempts",
            "provider",
            "provider_message_id",
            "segments",
            "cost",
            "currency",
            "last_error",
            "error_code",
            "fallback_of",
            "fallback_used",
        ]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_fallback_used(self, obj) -> bool:
        return bool(obj.fallback_of_id) or bool(getattr(obj, "has_fallback", False))


class NotificationDetailOutput(NotificationOutput):
    attempts_log = AttemptOutput(many=True, read_only=True)
    fallbacks = serializers.SerializerMethodField()

    class Meta(NotificationOutput.Meta):
        fields = [
            *NotificationOutput.Meta.fields,
            "data",
            "decision_trace",
            "to_address",
            "rendered_subject",
            "rendered_body",
            "rendered_html",
            "attempts_log",
            "fallbacks",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_fallbacks(self, obj) -> list[str]:
        return [str(f.pk) for f in obj.fallbacks.all()]


class NotificationTypeOutput(serializers.ModelSerializer):
    allowed_channels = serializers.ListField(child=serializers.CharField(), read_only=True)
    priority_name = serializers.CharField(read_only=True)
    rate_limits = serializers.SerializerMethodField()
    rate_caps = serializers.SerializerMethodField()

    class Meta:
        model = NotificationType
        fields = [
            "key",
            "name",
            "description",
            "priority",
            "priority_name",
            "default_channel",
            "fallback_channel",
            "tier",
            "purpose",
            "allowed_channels",
            "rate_limits",
            "rate_caps",
            "max_retries",
            "retry_base_delay",
            "is_active",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rate_limits(self, obj) -> dict[str, int | None]:
        """Per allowed channel: messages per minute to one recipient (null: no limit)."""
        return {channel: obj.rate_limit_for(channel) for channel in obj.allowed_channels}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rate_caps(self, obj) -> dict[str, int | None]:
        """Per allowed channel: messages per minute to everyone together (null: no cap)."""
        return {channel: obj.global_rate_limit_for(channel) for channel in obj.allowed_channels}
