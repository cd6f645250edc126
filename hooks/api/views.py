"""`/api/v1/webhook-endpoints/`: a product backend registers a person's endpoints for the webhook channel.
`/api/v1/event-subscriptions/`: it subscribes its own receivers to lifecycle events, reads their deliveries and
replays them. A signing secret is shown when it is made (create, rotate-secret) and never again."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.api import StrictInput
from commhub.permissions import require_perms
from commhub.tenancy import acting_organisation_id
from hooks import selectors, services
from hooks.models import EventDelivery, EventSubscription, WebhookEndpoint
from preferences.services import recipient_upsert

# what every signed endpoint shows (never its secret, but at create and rotate)
_SIGNED = [
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
_SECRET = serializers.CharField(read_only=True, help_text="whsec_...: verify our signatures with it. Shown once.")


class EndpointOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.external_id", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "recipient", *_SIGNED]


class EndpointWithSecret(EndpointOutput):
    secret = _SECRET

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


class SubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = EventSubscription
        fields = [
            "id",
            "events",
            "notification_types",
            "channels",
            *_SIGNED,
        ]


class SubscriptionWithSecret(SubscriptionOutput):
    secret = _SECRET

    class Meta(SubscriptionOutput.Meta):
        fields = [*SubscriptionOutput.Meta.fields, "secret"]


def _names(longest: int, most: int, **options) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=longest), max_length=most, **options)


class SubscriptionInput(StrictInput):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = _names(
        64, 50, required=False, default=list, help_text="sent, delivered, ... (or notification.sent); empty: all."
    )
    notification_types = _names(64, 200, required=False, default=list, help_text="Type keys; empty: every type.")
    channels = _names(32, 20, required=False, default=list, help_text="Channel names; empty: every channel.")


class SubscriptionChange(StrictInput):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    events = _names(64, 50, required=False)
    notification_types = _names(64, 200, required=False)
    channels = _names(32, 20, required=False)


class DeliveryOutput(serializers.ModelSerializer):
    event = serializers.CharField(source="event.public_id", read_only=True)
    type = serializers.SerializerMethodField()
    notification = serializers.UUIDField(source="notification_id", read_only=True)
    occurred_at = serializers.DateTimeField(source="event.occurred_at", read_only=True)

    class Meta:
        model = EventDelivery
        fields = [
            "id",
            "event",
            "type",
            "notification",
            "occurred_at",
            "state",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_answer",
            "delivered_at",
        ]

    def get_type(self, delivery: EventDelivery) -> str:
        return f"notification.{delivery.event.name}"


class ReplayInput(StrictInput):
    events = serializers.ListField(
        child=serializers.CharField(max_length=40), max_length=1000, required=False, help_text="evt_... ids"
    )
    since = serializers.DateTimeField(required=False, help_text="Events that happened at or after this time ...")
    until = serializers.DateTimeField(required=False, help_text="... and before this one.")
    states = serializers.ListField(
        child=serializers.ChoiceField(choices=EventDelivery.State.choices),
        required=False,
        default=[EventDelivery.State.FAILED],
        help_text="Which deliveries of those events (default: the failed ones).",
    )

    def validate(self, attrs):
        if not attrs.get("events") and not (attrs.get("since") or attrs.get("until")):
            raise serializers.ValidationError({"events": ["Name events, or a range with since and until."]})
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class ReplayOutput(serializers.Serializer):
    replayed = serializers.IntegerField()


class EventSubscriptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your receivers of lifecycle events (notification.accepted, .sent, .delivered, ...), each signed with its
    own secret; their deliveries, and replaying them."""

    serializer_class = SubscriptionOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        perms = {
            "create": ("hooks.add_eventsubscription",),
            "partial_update": ("hooks.change_eventsubscription",),
            "rotate_secret": ("hooks.change_eventsubscription",),
            "replay": ("hooks.change_eventsubscription",),
            "destroy": ("hooks.delete_eventsubscription",),
            "deliveries": ("hooks.view_eventsubscription",),
        }.get(self.action, ("hooks.view_eventsubscription",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        return selectors.subscriptions_all()

    @extend_schema(request=SubscriptionInput, responses={201: SubscriptionWithSecret})
    def create(self, request):
        """Subscribe a receiver (filters empty: every event of every type and channel); its secret is in the
        answer, and only there."""
        given = SubscriptionInput(data=request.data)
        given.is_valid(raise_exception=True)
        subscription = services.subscription_create(organisation_id=acting_organisation_id(), **given.validated_data)
        return Response(SubscriptionWithSecret(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionChange, responses={200: SubscriptionOutput})
    def partial_update(self, request, pk=None):
        """Change the URL, description or filters, or disable and enable the subscription."""
        given = SubscriptionChange(data=request.data)
        given.is_valid(raise_exception=True)
        subscription = services.endpoint_update(endpoint=self.get_object(), **given.validated_data)
        return Response(SubscriptionOutput(subscription).data)

    @extend_schema(request=None, responses={200: SubscriptionWithSecret})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret (in the answer); the old one keeps signing too for WEBHOOK_SECRET_OVERLAP_HOURS."""
        return Response(SubscriptionWithSecret(services.endpoint_rotate_secret(endpoint=self.get_object())).data)

    @extend_schema(responses={200: DeliveryOutput(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The subscription's deliveries, newest first (`?state=pending|delivered|failed`)."""
        deliveries = selectors.deliveries_of(self.get_object(), state=request.query_params.get("state"))
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)

    @extend_schema(request=ReplayInput, responses={202: ReplayOutput})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Send events again, with their ids: the ones named, or those in a time range, whose deliveries are in
        the given states (default: failed)."""
        given = ReplayInput(data=request.data)
        given.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_to_replay(self.get_object(), **given.validated_data)
        return Response(
            {"replayed": services.deliveries_replay(deliveries=deliveries)}, status=status.HTTP_202_ACCEPTED
        )
