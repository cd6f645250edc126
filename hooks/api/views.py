"""`/api/v1/webhook-endpoints/`: a product backend registers a person's endpoints for the webhook channel. The
signing secret is shown when it is made (create, rotate-secret) and never again."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.api import StrictInput
from commhub.permissions import require_perms
from hooks import selectors, services
from hooks.models import WebhookEndpoint
from preferences.services import recipient_upsert


class EndpointOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "recipient",
            "url",
            "description",
            "enabled",
            "disabled_reason",
            "created_at",
            "last_success_at",
            "last_failure_at",
            "last_answer",
            "previous_secret_until",
        ]


class EndpointWithSecret(EndpointOutput):
    secret = serializers.CharField(read_only=True, help_text="whsec_...: verify our signatures with it. Shown once.")

    class Meta(EndpointOutput.Meta):
        fields = [*EndpointOutput.Meta.fields, "secret"]


class EndpointInput(StrictInput):
    recipient = serializers.CharField(max_length=128, help_text="The person's id in your product.")
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class EndpointChange(StrictInput):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """People's webhook endpoints: where the webhook channel POSTs their notifications, signed."""

    serializer_class = EndpointOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        perms = {
            "create": ("hooks.add_webhookendpoint",),
            "partial_update": ("hooks.change_webhookendpoint",),
            "rotate_secret": ("hooks.change_webhookendpoint",),
            "destroy": ("hooks.delete_webhookendpoint",),
        }.get(self.action, ("hooks.view_webhookendpoint",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        endpoints = selectors.endpoints_all()
        if who := self.request.query_params.get("recipient"):
            endpoints = endpoints.filter(recipient__external_id=who)
        return endpoints

    @extend_schema(request=EndpointInput, responses={201: EndpointWithSecret})
    def create(self, request):
        """Register an endpoint for a person (created if commhub does not know them yet); its secret is in the
        answer, and only there."""
        given = EndpointInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        recipient, _ = recipient_upsert(external_id=data["recipient"])
        endpoint = services.endpoint_create(recipient=recipient, url=data["url"], description=data["description"])
        return Response(EndpointWithSecret(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EndpointChange, responses={200: EndpointOutput})
    def partial_update(self, request, pk=None):
        """Change the URL or description, or disable and enable the endpoint."""
        given = EndpointChange(data=request.data)
        given.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=self.get_object(), **given.validated_data)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(request=None, responses={200: EndpointWithSecret})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret (in the answer); the old one keeps signing too for WEBHOOK_SECRET_OVERLAP_HOURS."""
        return Response(EndpointWithSecret(services.endpoint_rotate_secret(endpoint=self.get_object())).data)
