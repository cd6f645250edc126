"""Input and output shapes of the templates API."""

from __future__ import annotations

from rest_framework import serializers

from commhub.api import ChannelField, LocaleField, StrictInput
from templates_app.models import Template, TemplateVersion
from templates_app.services import EDITABLE_FIELDS


class TemplateInput(StrictInput):
    type = serializers.CharField(max_length=64)
    channel = ChannelField()
    locale = LocaleField(default="en")


class TemplateVersionSummary(serializers.ModelSerializer):
    class Meta:
        model = TemplateVersion
        fields = ["id", "number", "status", "note", "created_by", "created_at", "published_by", "published_at"]


class TemplateOutput(serializers.ModelSerializer):
    type = serializers.CharField(source="notification_type.key")
    live_version = serializers.IntegerField(source="published_version.number", allow_null=True, default=None)
    versions = TemplateVersionSummary(many=True, read_only=True)

    class Meta:
        model = Template
        fields = [
            "id",
            "type",
            "channel",
            "locale",
            "is_active",
            "live_version",
            "versions",
            "created_at",
            "updated_at",
        ]


class TemplatePatch(StrictInput):
    is_active = serializers.BooleanField(required=False, help_text="false: no sends use this template.")


class VersionInput(StrictInput):
    subject = serializers.CharField(required=False, allow_blank=True, max_length=255)
    text = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    html = serializers.CharField(required=False, allow_blank=True, max_length=500_000)
    title = serializers.CharField(required=False, allow_blank=True, max_length=255)
    action_url = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    action_label = serializers.CharField(required=False, allow_blank=True, max_length=64)
    variables = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='The variables the version uses: [{"name": "amount", "type": "string", "required": true, '
        '"sample": "$120.00"}, ...].',
    )
    use_layout = serializers.BooleanField(required=False)
    layout = serializers.SlugField(required=False, allow_null=True, help_text="A layout's name; null: the default.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=255)


class VersionCreateInput(VersionInput):
    template = serializers.IntegerField()


class VersionOutput(serializers.ModelSerializer):
    layout = serializers.CharField(source="layout.name", allow_null=True, default=None)

    class Meta:
        model = TemplateVersion
        fields = [
            "id",
            "template",
            "number",
            "status",
            *EDITABLE_FIELDS,
            "created_by",
            "created_at",
            "published_by",
            "published_at",
        ]


class RollbackInput(StrictInput):
    version = serializers.IntegerField(min_value=1)


class PreviewInput(StrictInput):
    version = serializers.IntegerField(required=False, min_value=1, help_text="Default: the live version.")
    data = serializers.DictField(required=False, default=dict, help_text="Overrides the version's sample data.")  # type: ignore[assignment]  # the API names it data
    recipient = serializers.CharField(required=False, max_length=128, help_text="Render for this recipient.")
