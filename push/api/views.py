"""`/api/v1/me/push/`: a person registers and removes the browsers (Web Push subscriptions) and app installs (FCM
tokens) their push notifications go to, with the same end-user tokens as the rest of /me/. Another person's
registration is a 404."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from django.conf import settings
from django.db.models import QuerySet
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.api import StrictInput
from preferences.api.me import EndUserView
from push import fcm, selectors, services, vapid
from push.models import DeviceToken, PushSubscription


def _b64url_bytes(value: str, *, length: int, what: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise serializers.ValidationError(f"Not base64url: the browser's {what}.") from None
    if len(raw) != length or (length == 65 and raw[0] != 4):
        raise serializers.ValidationError(f"Not the browser's {what} ({length} bytes).")
    return value.rstrip("=")


class KeysInput(StrictInput):
    p256dh = serializers.CharField(max_length=100, help_text="The browser's P-256 public key, base64url.")
    auth = serializers.CharField(max_length=32, help_text="The browser's 16-byte auth secret, base64url.")

    def validate_p256dh(self, value: str) -> str:
        return _b64url_bytes(value, length=65, what="P-256 public key (an uncompressed point)")

    def validate_auth(self, value: str) -> str:
        return _b64url_bytes(value, length=16, what="auth secret")


class SubscriptionInput(StrictInput):
    """What the browser's `PushSubscription.toJSON()` gives, as it gives it."""

    endpoint = serializers.URLField(max_length=1000)
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # the browser's name for it
    keys = KeysInput()
    user_agent = serializers.CharField(required=False, allow_blank=True, max_length=255)


class SubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "user_agent", "created_at", "last_sent_at"]


class EndpointInput(StrictInput):
    endpoint = serializers.URLField(max_length=1000)


class DeviceInput(StrictInput):
    token = serializers.CharField(max_length=512, help_text="The FCM registration token your app was given.")
    platform = serializers.ChoiceField(choices=DeviceToken.Platform.choices, default=DeviceToken.Platform.ANDROID)


class DeviceOutput(serializers.ModelSerializer):
    class Meta:
        model = DeviceToken
        fields = ["id", "platform", "token", "created_at", "last_sent_at"]


class _Mine(
    EndUserView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    # A person's own registrations: list, one, forget one (another person's is a 404). Subclasses name the
    # selector of a person's rows (`mine`) and the model (`queryset`, for the API schema).
    pagination_class: type | None = None  # a person has at most MAX_PER_PERSON of each
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "post", "delete", "head", "options"]
    mine: Callable[[int | None], QuerySet]

    @cached_property
    def recipient_id(self) -> int | None:
        return self.me().pk

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the API schema is being generated: nobody is calling
            return self.queryset
        return type(self).mine(self.recipient_id).order_by("-created_at", "-id")


class MePushSubscriptionViewSet(_Mine):
    """Your browsers that receive push notifications."""

    serializer_class = SubscriptionOutput
    queryset = PushSubscription.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    mine = staticmethod(selectors.subscriptions_of)

    @extend_schema(request=SubscriptionInput, responses={201: SubscriptionOutput, 200: SubscriptionOutput})
    def create(self, request):
        """Register this browser (post `subscription.toJSON()` as it is); the same endpoint again updates it."""
        given = SubscriptionInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        user_agent = data.get("user_agent") or request.headers.get("User-Agent", "")
        subscription, created = services.subscription_register(
            recipient=self.me(create=True),
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
            user_agent=user_agent,
        )
        return Response(SubscriptionOutput(subscription).data, status=201 if created else 200)

    @extend_schema(request=EndpointInput, responses={204: None})
    @action(detail=False, methods=["post"])
    def remove(self, request):
        """Forget this browser by its endpoint (what the page knows after `subscription.unsubscribe()`)."""
        given = EndpointInput(data=request.data)
        given.is_valid(raise_exception=True)
        self.get_queryset().filter(endpoint=given.validated_data["endpoint"]).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeDeviceViewSet(_Mine):
    """Your app installs that receive push notifications (Firebase Cloud Messaging)."""

    serializer_class = DeviceOutput
    queryset = DeviceToken.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    mine = staticmethod(selectors.devices_of)

    @extend_schema(request=DeviceInput, responses={201: DeviceOutput, 200: DeviceOutput})
    def create(self, request):
        """Register this app install's FCM token; the same token again updates it."""
        given = DeviceInput(data=request.data)
        given.is_valid(raise_exception=True)
        device, created = services.device_register(recipient=self.me(create=True), **given.validated_data)
        return Response(DeviceOutput(device).data, status=201 if created else 200)


PUSH_CONFIG = inline_serializer(
    "PushConfig",
    {
        "vapid_public_key": serializers.CharField(help_text="applicationServerKey for pushManager.subscribe()"),
        "web_push": serializers.BooleanField(),
        "fcm": serializers.BooleanField(),
    },
)


class MePushConfigView(EndUserView):
    """What a page or app needs to register for push."""

    @extend_schema(responses={200: PUSH_CONFIG})
    def get(self, request):
        """The application server key browsers subscribe with, and which kinds of push this server sends."""
        live = settings.PUSH_PROVIDER == "live"
        key = vapid.public_key()
        return Response({"vapid_public_key": key, "web_push": bool(key), "fcm": fcm.configured() or not live})
