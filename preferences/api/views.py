"""Recipients, preferences, the consent ledger and suppressions, for service clients (backends and staff).

Every view names its permission. The consent ledger can be read and appended to; there is no endpoint that
changes or deletes an entry (PUT, PATCH and DELETE are 405).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from commhub.api import CSVRenderer, ErrorsAsJson
from commhub.filters import StrictFilterSet, UtcDateTimeFilter
from commhub.permissions import require_perms
from preferences import selectors, services
from preferences.models import ConsentRecord, Preference, Suppression
from preferences.privacy import consent_record_data, recipient_erase, recipient_export_data

from .serializers import (
    ConsentOutput,
    ConsentStateOutput,
    PreferenceOutput,
    PreferencePatch,
    RecipientOutput,
    RecipientUpsertInput,
    ServiceConsentInput,
    ServicePreferenceInput,
    SuppressionInput,
    SuppressionLiftInput,
    SuppressionOutput,
)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def resolve_type(key):
    """A notification type by key for a preference, or a 400 naming the field."""
    if not key:
        return None
    ntype = selectors.notification_type_for_preferences(key)
    if ntype is None:
        raise ValidationError({"type": [f"Unknown notification type {key!r}."]})
    return ntype


def recipient_or_400(external_id: str):
    recipient = selectors.recipient_by_external_id(external_id)
    if recipient is None:
        raise ValidationError({"recipient": [f"Unknown recipient {external_id!r}."]})
    return recipient


class RecipientViewSet(ErrorsAsJson, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RecipientOutput
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"
    filterset_fields = ["email", "phone", "locale"]
    csv_header = ConsentOutput.Meta.fields  # the consent ledger's CSV, also when it is empty

    def get_permissions(self):
        perms = {
            "update": ("preferences.add_recipient", "preferences.change_recipient"),
            "partial_update": ("preferences.add_recipient", "preferences.change_recipient"),
            "consent_ledger": ("preferences.view_consentrecord",),
            "consent_current": ("preferences.view_consentrecord",),
            "export": ("preferences.export_recipient",),
            "erase": ("preferences.erase_recipient",),
        }.get(self.action, ("preferences.view_recipient",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        return selectors.recipients_all()

    @extend_schema(request=RecipientUpsertInput, responses={200: RecipientOutput, 201: RecipientOutput})
    def update(self, request, external_id=None):
        """Create or update the recipient with this external id (PUT is an upsert)."""
        payload = RecipientUpsertInput(data=request.data)
        payload.is_valid(raise_exception=True)
        recipient, created = services.recipient_upsert(external_id=external_id, **payload.validated_data)
        return Response(
            RecipientOutput(recipient).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=RecipientUpsertInput, responses={200: RecipientOutput})
    def partial_update(self, request, external_id=None):
        """Change some fields of an existing recipient (404 when there is none: use PUT to create)."""
        self.get_object()
        return self.update(request, external_id=external_id)

    @extend_schema(responses={200: ConsentOutput(many=True)})
    @action(
        detail=True,
        methods=["get"],
        url_path="consent-ledger",
        renderer_classes=[JSONRenderer, CSVRenderer],
        pagination_class=None,
        filter_backends=[],
    )
    def consent_ledger(self, request, external_id=None):
        """The recipient's whole consent ledger, oldest first, as JSON or (?format=csv) CSV for auditors."""
        if request.query_params.get("format") == "":
            raise ValidationError({"format": ["json or csv (or leave it out for JSON)."]})
        recipient = self.get_object()
        rows = [consent_record_data(r) for r in selectors.consent_ledger(recipient).select_related("recipient")]
        response = Response(rows)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="consent-{recipient.pk}.csv"'
        return response

    @extend_schema(responses={200: ConsentStateOutput(many=True)})
    @action(detail=True, methods=["get"], url_path="consent", pagination_class=None, filter_backends=[])
    def consent_current(self, request, external_id=None):
        """Current consent per channel x purpose (x category), derived from the ledger."""
        return Response(ConsentStateOutput(selectors.consent_current(self.get_object()), many=True).data)

    @extend_schema(responses={200: OpenApiResponse(description="Everything held about the recipient")})
    @action(detail=True, methods=["get"])
    def export(self, request, external_id=None):
        return Response(recipient_export_data(self.get_object()))

    @extend_schema(request=None, responses={200: OpenApiResponse(description="What was erased")})
    @action(detail=True, methods=["post"])
    def erase(self, request, external_id=None):
        """Erase personal data; the consent ledger and costs stay under a pseudonymous id."""
        recipient = self.get_object()
        summary = recipient_erase(recipient=recipient, actor=request.user)
        recipient.refresh_from_db()
        return Response({"pseudonym": recipient.external_id, **summary})


class PreferenceFilter(StrictFilterSet):
    recipient = filters.CharFilter(field_name="recipient__external_id")
    type = filters.CharFilter(field_name="notification_type__key")

    class Meta:
        model = Preference
        fields = ["recipient", "type", "category", "channel", "enabled"]


class PreferenceWritesMixin(GenericAPIView):
    """What the service and the end-user preference endpoints share: an upsert on one scope, changing only
    `enabled` of an existing choice, and forgetting one."""

    def set_choice(self, recipient, data) -> Response:
        pref, created = services.preference_set(
            recipient=recipient,
            notification_type=resolve_type(data.get("type")),
            category=data.get("category") or "",
            channel=data.get("channel") or "",
            enabled=data["enabled"],
        )
        return Response(PreferenceOutput(pref).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=PreferencePatch, responses={200: PreferenceOutput})
    def partial_update(self, request, pk=None):
        """Turn this preference on or off. Only `enabled` can change; a different scope is a different
        preference (POST it)."""
        pref = self.get_object()
        payload = PreferencePatch(data=request.data)
        payload.is_valid(raise_exception=True)
        pref, _ = services.preference_set(
            recipient=pref.recipient,
            notification_type=pref.notification_type,
            category=pref.category,
            channel=pref.channel,
            enabled=payload.validated_data["enabled"],
        )
        return Response(PreferenceOutput(pref).data)

    def destroy(self, request, pk=None):
        services.preference_delete(preference=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferenceViewSet(PreferenceWritesMixin, viewsets.ModelViewSet):
    """Recipients' on/off choices, set by the product backend on its users' behalf."""

    serializer_class = PreferenceOutput
    filterset_class = PreferenceFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        perms = {
            "create": ("preferences.add_preference", "preferences.change_preference"),
            "partial_update": ("preferences.change_preference",),
            "destroy": ("preferences.delete_preference",),
        }.get(self.action, ("preferences.view_preference",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        return Preference.objects.select_related("recipient", "notification_type").order_by("pk")

    @extend_schema(request=ServicePreferenceInput, responses={200: PreferenceOutput, 201: PreferenceOutput})
    def create(self, request):
        """Set a choice (an upsert on recipient x type|category x channel)."""
        payload = ServicePreferenceInput(data=request.data)
        payload.is_valid(raise_exception=True)
        return self.set_choice(recipient_or_400(payload.validated_data["recipient"]), payload.validated_data)


class ConsentFilter(StrictFilterSet):
    recipient = filters.CharFilter(field_name="recipient__external_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = ConsentRecord
        fields = ["recipient", "channel", "purpose", "category", "action", "source", "created_after"]


class ConsentRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The append-only consent ledger: list, read one, append one. Nothing else."""

    serializer_class = ConsentOutput
    filterset_class = ConsentFilter

    def get_permissions(self):
        perms = ("preferences.add_consentrecord",) if self.action == "create" else ("preferences.view_consentrecord",)
        return [require_perms(*perms)()]

    def get_queryset(self):
        return ConsentRecord.objects.select_related("recipient").order_by("-created_at", "-id")

    @extend_schema(request=ServiceConsentInput, responses={201: ConsentOutput})
    def create(self, request):
        """Record that a person granted or withdrew consent in the product, with the evidence."""
        payload = ServiceConsentInput(data=request.data)
        payload.is_valid(raise_exception=True)
        d = payload.validated_data
        record = services.consent_record(
            recipient=recipient_or_400(d["recipient"]),
            channel=d["channel"],
            purpose=d["purpose"],
            category=d.get("category") or "",
            action=d["action"],
            at=d.get("at"),
            evidence=services.Evidence(
                source=d["source"],
                ip_address=d.get("ip_address"),
                user_agent=d.get("user_agent") or "",
                consent_text=d.get("consent_text") or "",
                reference=d.get("reference") or "",
                actor=request.user,
            ),
        )
        return Response(ConsentOutput(record).data, status=status.HTTP_201_CREATED)


class SuppressionFilter(StrictFilterSet):
    active = filters.BooleanFilter(field_name="lifted_at", lookup_expr="isnull")

    class Meta:
        model = Suppression
        fields = ["channel", "address", "reason", "active"]


class SuppressionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Blocked addresses. Adding one blocks every type on that address; lifting is recorded."""

    serializer_class = SuppressionOutput
    filterset_class = SuppressionFilter

    def get_permissions(self):
        perms = {
            "create": ("preferences.add_suppression",),
            "lift": ("preferences.change_suppression",),
        }.get(self.action, ("preferences.view_suppression",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        return selectors.suppressions_all().order_by("-created_at", "-id")

    @extend_schema(request=SuppressionInput, responses={201: SuppressionOutput, 200: SuppressionOutput})
    def create(self, request):
        payload = SuppressionInput(data=request.data)
        payload.is_valid(raise_exception=True)
        suppression, created = services.suppression_add(**payload.validated_data, actor=request.user)
        return Response(
            SuppressionOutput(suppression).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=SuppressionLiftInput, responses={200: SuppressionOutput})
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        payload = SuppressionLiftInput(data=request.data)
        payload.is_valid(raise_exception=True)
        suppression = services.suppression_lift(
            suppression=self.get_object(), actor=request.user, reason=payload.validated_data["reason"]
        )
        return Response(SuppressionOutput(suppression).data)
