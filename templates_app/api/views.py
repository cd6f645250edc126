"""The templates API, for staff: slots, draft versions, publish and roll back, and preview."""

from __future__ import annotations

from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.filters import IdFilter, StrictFilterSet
from commhub.permissions import require_staff_perms
from templates_app import selectors, services
from templates_app.models import Layout, Template, TemplateVersion

from .serializers import (
    PreviewInput,
    RollbackInput,
    TemplateInput,
    TemplateOutput,
    TemplatePatch,
    VersionCreateInput,
    VersionInput,
    VersionOutput,
)


def _version_fields(validated: dict) -> dict:
    fields = {k: v for k, v in validated.items() if k != "template"}
    if "layout" in fields:
        name = fields.pop("layout")
        layout = Layout.objects.filter(name=name).first() if name else None
        if name and layout is None:
            raise ValidationError({"layout": [f"No layout named {name!r}."]})
        fields["layout"] = layout
    return fields


class TemplateFilter(StrictFilterSet):
    type = filters.CharFilter(field_name="notification_type__key")

    class Meta:
        model = Template
        fields = ["type", "channel", "locale", "is_active"]


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TemplateOutput
    filterset_class = TemplateFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        perms = {
            "create": ("templates_app.add_template",),
            "partial_update": ("templates_app.change_template",),
            "rollback": ("templates_app.publish_template",),
        }.get(self.action, ("templates_app.view_template",))
        return [require_staff_perms(*perms)()]

    def get_queryset(self):
        return selectors.templates_all().prefetch_related("versions").order_by("pk")

    @extend_schema(request=TemplateInput, responses={201: TemplateOutput})
    def create(self, request):
        payload = TemplateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        d = payload.validated_data
        ntype = selectors.notification_type_for_templates(d["type"])
        if ntype is None:
            raise ValidationError({"type": [f"Unknown notification type {d['type']!r}."]})
        owner = services.template_owner_for_new()  # the shared default, or this organisation's own override
        own = Q(organisation_id=owner) if owner is not None else Q(organisation__isnull=True)
        if Template.objects.filter(own, notification_type=ntype, channel=d["channel"], locale=d["locale"]).exists():
            raise ValidationError({"locale": [f"{ntype.key} already has a {d['channel']} template in {d['locale']}."]})
        template = services.template_create(notification_type=ntype, channel=d["channel"], locale=d["locale"])
        return Response(TemplateOutput(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplatePatch, responses={200: TemplateOutput})
    def partial_update(self, request, pk=None):
        template = self.get_object()
        payload = TemplatePatch(data=request.data)
        payload.is_valid(raise_exception=True)
        if "is_active" in payload.validated_data:  # an empty patch changes nothing
            services.template_check_writable(template)
            template.is_active = payload.validated_data["is_active"]
            template.save(update_fields=["is_active", "updated_at"])
        return Response(TemplateOutput(template).data)

    @extend_schema(request=RollbackInput, responses={200: TemplateOutput})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Make an earlier published version live again."""
        template = self.get_object()
        payload = RollbackInput(data=request.data)
        payload.is_valid(raise_exception=True)
        services.template_rollback(template=template, number=payload.validated_data["version"], actor=request.user)
        template.refresh_from_db()
        return Response(TemplateOutput(template).data)

    @extend_schema(
        request=PreviewInput,
        responses={200: OpenApiResponse(description="subject, html, text, sms {encoding, length, segments}, cost")},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """Render the live version (or `version`) with its sample data, or `data`, for a sample or a real
        recipient."""
        template = self.get_object()
        payload = PreviewInput(data=request.data)
        payload.is_valid(raise_exception=True)
        d = payload.validated_data
        if "version" in d:
            version = template.versions.filter(number=d["version"]).first()
            if version is None:
                raise ValidationError({"version": [f"No version {d['version']}."]})
        elif template.published_version_id:
            version = template.published_version
        else:
            raise ValidationError({"version": ["Nothing is published yet: name a draft version to preview."]})
        recipient = services.preview_recipient_for(user=request.user, external_id=d.get("recipient") or "")
        preview = services.template_preview(version=version, data=d.get("data"), recipient=recipient)
        return Response({"template": template.pk, "version": version.number, **asdict(preview)})


class VersionFilter(StrictFilterSet):
    template = IdFilter(field_name="template_id", help_text="A template's id.")

    class Meta:
        model = TemplateVersion
        fields = ["template", "status"]


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VersionOutput
    filterset_class = VersionFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        perms = {
            "create": ("templates_app.add_templateversion",),
            "partial_update": ("templates_app.change_templateversion",),
            "publish": ("templates_app.publish_template",),
        }.get(self.action, ("templates_app.view_templateversion",))
        return [require_staff_perms(*perms)()]

    def get_queryset(self):
        return TemplateVersion.objects.select_related("layout").order_by("template", "-number")

    @extend_schema(request=VersionCreateInput, responses={201: VersionOutput})
    def create(self, request):
        """A new draft for a template; refused (400, naming the problem) when it does not compile, uses an
        undeclared variable or does not render with its sample data."""
        payload = VersionCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        template = Template.objects.filter(pk=payload.validated_data["template"]).first()
        if template is None:
            raise ValidationError({"template": [f"No template {payload.validated_data['template']}."]})
        version = services.version_create(
            template=template, actor=request.user, **_version_fields(payload.validated_data)
        )
        return Response(VersionOutput(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=VersionInput, responses={200: VersionOutput, 409: OpenApiResponse(description="Frozen")})
    def partial_update(self, request, pk=None):
        """Edit a draft; a published version is frozen (409)."""
        payload = VersionInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        version = services.version_update(
            version=self.get_object(), actor=request.user, **_version_fields(payload.validated_data)
        )
        return Response(VersionOutput(version).data)

    @extend_schema(request=None, responses={200: VersionOutput})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Freeze the draft and make it live (on a published version: make it live again)."""
        version = services.version_publish(version=self.get_object(), actor=request.user)
        return Response(VersionOutput(version).data)
