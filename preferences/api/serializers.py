from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from commhub.api import ChannelField, LocaleField, StrictInput
from preferences.models import (
    PURPOSE_CHOICES,
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Preference,
    Recipient,
    Suppression,
    SuppressionReason,
)
from preferences.services import LOCAL_TIME_PATTERN


class LocalTimeField(serializers.RegexField):
    """A local time of day, HH:MM (seconds allowed and dropped); blank or null: none."""

    def __init__(self, **kwargs) -> None:
        kwargs.update(required=False, allow_blank=True, allow_null=True, max_length=8)
        kwargs.setdefault("error_messages", {"invalid": "A local time such as 08:00."})
        super().__init__(LOCAL_TIME_PATTERN, **kwargs)


class RecipientUpsertInput(StrictInput):
    """Fields to set; omitted fields keep their value. Validation lives in preferences.services so the
    admin, the API and inline recipients agree."""

    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)  # blank: unknown
    locale = LocaleField(required=False)
    attributes = serializers.DictField(
        required=False, help_text="Free-form facts about the person templates may use (a JSON object)."
    )
    send_window_start = LocalTimeField(help_text="Local time from which messages may be sent, e.g. 08:00.")
    send_window_end = LocalTimeField(help_text="Local time until which messages may be sent, e.g. 21:00.")


class RecipientOutput(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = [
            "external_id",
            "email",
            "phone",
            "timezone",
            "locale",
            "attributes",
            "send_window_start",
            "send_window_end",
            "erased_at",
            "created_at",
            "updated_at",
        ]


class RecipientMeInput(StrictInput):
    """What a person may change about themselves (contact points are the product backend's to set)."""

    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    locale = LocaleField(required=False)
    send_window_start = LocalTimeField(help_text="Local time from which messages may be sent, e.g. 08:00.")
    send_window_end = LocalTimeField(help_text="Local time until which messages may be sent, e.g. 21:00.")


class RecipientMeOutput(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = ["external_id", "email", "phone", "timezone", "locale", "send_window_start", "send_window_end"]


class PreferenceInput(StrictInput):
    """One choice: a type (by key) or a category or neither (everything), on a channel or (blank) all."""

    type = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    category = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    channel = ChannelField(any_label="any", required=False, allow_blank=True)
    enabled = serializers.BooleanField()


class PreferencePatch(StrictInput):
    """A preference's scope is what it is (type, category, channel): only `enabled` changes. Naming a different
    scope is refused: that is another preference (POST it)."""

    enabled = serializers.BooleanField()
    SCOPE = ("recipient", "type", "category", "channel")

    def validate(self, attrs: dict) -> dict:
        named = [name for name in self.SCOPE if name in self.initial_data]
        if named:
            raise serializers.ValidationError(
                {name: ["A preference's scope cannot change: POST a preference for the other scope."] for name in named}
            )
        return attrs


class ServicePreferenceInput(PreferenceInput):
    recipient = serializers.CharField(max_length=128)


class PreferenceOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id")
    type = serializers.CharField(source="notification_type.key", allow_null=True, default=None)

    class Meta:
        model = Preference
        fields = ["id", "recipient", "type", "category", "channel", "enabled", "updated_at"]


class ConsentInput(StrictInput):
    channel = ChannelField()
    purpose = serializers.ChoiceField(choices=PURPOSE_CHOICES)
    category = serializers.SlugField(required=False, allow_blank=True, max_length=64, default="")
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    consent_text = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, default="", help_text="The words the person saw."
    )


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}],
        "nullable": True,
        "description": "The address the person acted from (IPv4 or IPv6).",
    }
)
class IPAddressInput(serializers.IPAddressField):
    pass


class ServiceConsentInput(ConsentInput):
    """A product backend records what its user did in the product (with the evidence it holds)."""

    recipient = serializers.CharField(max_length=128)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # the API names it source
        choices=[(s, ConsentSource(s).label) for s in (ConsentSource.API, ConsentSource.IMPORT)],
        default=ConsentSource.API,
    )
    ip_address = IPAddressInput(required=False, allow_null=True)
    user_agent = serializers.CharField(required=False, allow_blank=True, max_length=512, default="")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    at = serializers.DateTimeField(required=False, help_text="When it happened (imports); default now.")


class ConsentOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id")

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "recipient",
            "channel",
            "purpose",
            "category",
            "action",
            "source",
            "ip_address",
            "user_agent",
            "consent_text",
            "text_version",
            "actor",
            "reference",
            "created_at",
        ]


class ConsentStateOutput(serializers.Serializer):
    channel = serializers.CharField()
    purpose = serializers.CharField()
    category = serializers.CharField()
    action = serializers.CharField()
    since = serializers.DateTimeField()
    source = serializers.CharField()  # type: ignore[assignment]  # the API names it source


class SuppressionInput(StrictInput):
    channel = ChannelField()
    address = serializers.CharField(max_length=254)
    reason = serializers.ChoiceField(choices=SuppressionReason.choices, default=SuppressionReason.MANUAL)
    detail = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class SuppressionLiftInput(StrictInput):
    reason = serializers.CharField(max_length=1000)


class SuppressionOutput(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Suppression
        fields = [
            "id",
            "channel",
            "address",
            "reason",
            "detail",
            "source_event",
            "created_by",
            "created_at",
            "is_active",
            "lifted_at",
            "lifted_by",
            "lift_reason",
        ]
