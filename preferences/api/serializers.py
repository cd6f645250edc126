from __future__ import annotations

from rest_framework import serializers

from preferences.models import Recipient


class RecipientUpsertInput(serializers.Serializer):
    """Fields to set; omitted fields keep their value. Validation lives in preferences.services so the
    admin, the API and inline recipients agree."""

    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    timezone = serializers.CharField(required=False, max_length=64)
    locale = serializers.CharField(required=False, max_length=16)
    attributes = serializers.JSONField(required=False)


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
            "created_at",
            "updated_at",
        ]
