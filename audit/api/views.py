"""The audit trail over the API: read and export only (GET, JSON or ?format=csv). Nothing writes it here."""

from __future__ import annotations

from django_filters import rest_framework as filters
from rest_framework import mixins, serializers, viewsets
from rest_framework.renderers import JSONRenderer

from audit.models import AuditEntry
from commhub.api import CSVRenderer
from commhub.filters import StrictFilterSet, UtcDateTimeFilter
from commhub.permissions import require_perms


class AuditEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor_kind",
            "actor",
            "actor_user_id",
            "source",
            "address",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "detail",
        ]


class AuditFilter(StrictFilterSet):
    since = UtcDateTimeFilter(field_name="at", lookup_expr="gte", help_text="entries at or after (ISO 8601)")
    until = UtcDateTimeFilter(field_name="at", lookup_expr="lt", help_text="entries before (ISO 8601)")
    actor = filters.CharFilter(field_name="actor", lookup_expr="icontains")

    class Meta:
        model = AuditEntry
        fields = ["action", "actor_kind", "source", "object_type", "object_id", "actor", "since", "until"]


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who did what, when, from where: newest first; `?format=csv` exports the filtered entries (for auditors)."""

    serializer_class = AuditEntryOutput
    filterset_class = AuditFilter
    permission_classes = [require_perms("audit.view_auditentry")]
    renderer_classes = [JSONRenderer, CSVRenderer]
    csv_header = AuditEntryOutput.Meta.fields
    queryset = AuditEntry.objects.none()  # the model, for the schema; get_queryset reads in the caller's scope

    def get_queryset(self):
        return AuditEntry.objects.all()

    def get_renderers(self):
        if getattr(self, "action", None) == "retrieve":
            return [JSONRenderer()]  # one entry is JSON; the export is the list's
        return super().get_renderers()

    def paginate_queryset(self, queryset):
        if getattr(self.request, "accepted_renderer", None) and self.request.accepted_renderer.format == "csv":
            return None  # an export is every entry the filters match
        return super().paginate_queryset(queryset)

    def finalize_response(self, request, response, *args, **kwargs):
        csv_asked = getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv"
        if csv_asked and response.status_code >= 400:  # an error is JSON, whatever format the export asked for
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        response = super().finalize_response(request, response, *args, **kwargs)
        if csv_asked and response.status_code < 400:
            response["Content-Disposition"] = 'attachment; filename="audit.csv"'
        return response
