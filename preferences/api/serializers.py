from __future__ import annotations

from rest_framework import serializers

from commhub.api import ChannelField
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


class RecipientUpsertInput(serializers.Serializer):
    """Fields to set; omitted fields keep their value. Validation lives in preferences.services so the
    admin, the API and inline recipients agree."""

    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)  # blank: unknown
    locale = serializers.CharField(required=False, max_length=16)
    attributes = serializers.JSONField(required=False)
    send_window_start = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=8)
    send_window_end = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=8)


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


class RecipientMeInput(serializers.Serializer):
    """What a person may change about themselves (contact points are the product backend's to set)."""

    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    locale = serializers.CharField(required=False, max_length=16)
    send_window_start = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=8)
    send_window_end = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=8)


class RecipientMeOutput(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = ["external_id", "email", "phone", "timezone", "locale", "send_window_start", "send_window_end"]


class PreferenceInput(serializers.Serializer):
    """One choice: a type (by key) or a category or neither (everything), on a channel or (blank) all."""

    type = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    category = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    channel = ChannelField(any_label="any", required=False, allow_blank=True)
    enabled = serializers.BooleanField()


class ServicePreferenceInput(PreferenceInput):
    recipient = serializers.CharField(max_length=128)


class PreferenceOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id")
    type = serializers.CharField(source="notification_type.key", allow_null=True, default=None)

    class Meta:
        model = Preference
        fields = ["id", "recipient", "type", "category", "channel", "enabled", "updated_at"]


class ConsentInput(serializers.Serializer):
    channel = ChannelField()
    purpose = serializers.ChoiceField(choices=PURPOSE_CHOICES)
    category = serializers.SlugField(required=False, allow_blank=True, max_length=64, default="")
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    consent_text = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, default="", help_text="The words the person saw."
    )


class ServiceConsentInput(ConsentInput):
    """A product backend records what its user did in the product (with the evidence it holds)."""

    recipient = serializers.CharField(max_length=128)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # the API names it source
        choices=[(s, ConsentSource(s).label) for s in (ConsentSource.API, ConsentSource.IMPORT)],
        default=ConsentSource.API,
    )
    ip_address = serializers.IPAddressField(required=False, allow_null=True)
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


class SuppressionInput(serializers.Serializer):
    channel = ChannelField()
    address = serializers.CharField(max_length=254)
    reason = serializers.ChoiceField(choices=SuppressionReason.choices, default=SuppressionReason.MANUAL)
    detail = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class SuppressionLiftInput(serializers.Serializer):
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
