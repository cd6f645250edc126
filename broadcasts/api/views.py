"""`/api/v1/topics/` and `/api/v1/broadcasts/`: topics and their subscribers; a broadcast's dry run, start,
pause, resume and cancel, and its progress."""

from __future__ import annotations

from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from broadcasts import services
from broadcasts.models import Broadcast, Topic, TopicSubscription
from commhub.api import ChannelField, StrictInput
from commhub.errors import Conflict, InvalidInput
from commhub.permissions import require_perms
from notifications.models import NotificationType
from preferences.models import Recipient

MAX_RECIPIENTS = 10_000


class TopicSerializer(StrictInput, serializers.ModelSerializer):
    subscribers = serializers.IntegerField(source="subscriber_count", read_only=True, default=0)

    class Meta:
        model = Topic
        fields = ["key", "name", "description", "self_service", "subscribers", "created_at"]
        read_only_fields = ["created_at"]

    def validate_key(self, value: str) -> str:
        clash = Topic.objects.filter(key=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A topic with this key exists.")
        return value


class RecipientsInput(StrictInput):
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=128), min_length=1, max_length=MAX_RECIPIENTS
    )

    def to_internal_value(self, data):
        given = data.get("recipients") if isinstance(data, dict) else None
        if isinstance(given, list) and not all(isinstance(r, str) for r in given):
            raise serializers.ValidationError({"recipients": ["A list of external ids, each a string."]})
        return super().to_internal_value(data)


def _recipients(ids: list[str]) -> list[Recipient]:
    found = {r.external_id: r for r in Recipient.objects.filter(external_id__in=set(ids))}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise InvalidInput({"recipients": [f"Unknown recipient(s): {', '.join(missing[:20])}"]})
    return list(found.values())


class TopicViewSet(viewsets.ModelViewSet):
    """Topics people subscribe to; POST `…/{key}/subscribers/` adds recipients by id, `…/subscribers/remove/`
    removes them. A topic broadcasts were sent to cannot be deleted (409): their record names it."""

    serializer_class = TopicSerializer
    lookup_field = "key"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return services.topics_counted()

    def get_permissions(self):
        perms = {
            "create": "broadcasts.add_topic",
            "partial_update": "broadcasts.change_topic",
            "subscribers": "broadcasts.change_topic",
            "unsubscribe": "broadcasts.change_topic",
            "destroy": "broadcasts.delete_topic",
        }.get(self.action, "broadcasts.view_topic")
        if self.action == "subscribers" and self.request.method == "GET":
            perms = "broadcasts.view_topic"
        return [require_perms(perms)()]

    @extend_schema(
        request=RecipientsInput,
        responses={
            200: inline_serializer(
                "TopicSubscribers", {"recipients": serializers.ListField(), "changed": serializers.IntegerField()}
            )
        },
    )
    @action(detail=True, methods=["get", "post"])
    def subscribers(self, request, key=None):
        """GET: the subscribers' ids; POST `{recipients: [...]}`: subscribe them (already subscribed: unchanged)."""
        topic = self.get_object()
        if request.method == "GET":
            ids = TopicSubscription.objects.filter(topic=topic).order_by("recipient__external_id")
            listed = list(ids.values_list("recipient__external_id", flat=True)[:MAX_RECIPIENTS])
            return Response({"recipients": listed, "changed": 0})
        people = self._people(request)
        return Response(
            {
                "recipients": [p.external_id for p in people],
                "changed": services.topic_subscribe(topic=topic, recipients=people),
            }
        )

    @extend_schema(
        request=RecipientsInput,
        responses={
            200: inline_serializer(
                "TopicUnsubscribed", {"recipients": serializers.ListField(), "changed": serializers.IntegerField()}
            )
        },
    )
    @action(detail=True, methods=["post"], url_path="subscribers/remove")
    def unsubscribe(self, request, key=None):
        """POST `{recipients: [...]}`: unsubscribe them (not subscribed: unchanged)."""
        topic = self.get_object()
        people = self._people(request)
        return Response(
            {
                "recipients": [p.external_id for p in people],
                "changed": services.topic_unsubscribe(topic=topic, recipients=people),
            }
        )

    def perform_destroy(self, instance: Topic) -> None:
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(f"{instance.key}: broadcasts were sent to it; their record names it") from None

    def _people(self, request) -> list[Recipient]:
        given = RecipientsInput(data=request.data)
        given.is_valid(raise_exception=True)
        return _recipients(given.validated_data["recipients"])


class BroadcastInput(StrictInput):
    name = serializers.CharField(max_length=200)
    type = serializers.CharField(max_length=64)
    channel = ChannelField(any_label="the type's and recipient's choice", required=False, default="")
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]  # the API names it data
    audience = serializers.ChoiceField(choices=Broadcast.Audience.choices)
    topic = serializers.CharField(max_length=80, required=False)
    attribute_filter = serializers.DictField(required=False, default=dict)


class BroadcastOutput(serializers.ModelSerializer):
    type = serializers.CharField(source="notification_type.key")
    topic = serializers.CharField(source="topic.key", allow_null=True, default=None)

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "name",
            "type",
            "channel",
            "data",
            "audience",
            "topic",
            "attribute_filter",
            "state",
            "audience_size",
            "processed",
            "accepted",
            "refused",
            "invalid",
            "progress",
            "dry_run",
            "created_at",
            "started_at",
            "finished_at",
        ]


class BroadcastViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Write a broadcast, dry-run it, start it; pause, resume or cancel it; read its progress."""

    serializer_class = BroadcastOutput

    def get_queryset(self):
        return Broadcast.objects.select_related("notification_type", "topic").order_by("-created_at")

    def get_permissions(self):
        perms = {
            "create": "broadcasts.add_broadcast",
            "dry_run": "broadcasts.add_broadcast",
        }.get(self.action, "broadcasts.view_broadcast")
        if self.action in ("start", "pause", "resume", "cancel"):
            perms = "broadcasts.change_broadcast"
        return [require_perms(perms)()]

    @extend_schema(request=BroadcastInput, responses={201: BroadcastOutput})
    def create(self, request):
        given = BroadcastInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        ntype = NotificationType.objects.filter(key=data.pop("type"), is_active=True).first()
        if ntype is None:
            raise InvalidInput({"type": ["No active notification type by this key."]})
        topic = None
        if key := data.pop("topic", None):
            topic = Topic.objects.filter(key=key).first()
            if topic is None:
                raise InvalidInput({"topic": ["No topic by this key."]})
        broadcast = Broadcast(notification_type=ntype, topic=topic, created_by=request.user.get_username(), **data)
        services.broadcast_check(broadcast)
        broadcast.save()
        return Response(BroadcastOutput(broadcast).data, status=status.HTTP_201_CREATED)

    def _moved(self, move: str) -> Response:
        broadcast = self.get_object()
        if move == "start":
            moved = services.broadcast_start(broadcast=broadcast, actor=self.request.user)
        else:
            moved = services.broadcast_move(broadcast=broadcast, move=move, actor=self.request.user)
        return Response(BroadcastOutput(moved).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: BroadcastOutput})
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request, pk=None):
        """Count what sending it now would do (on a worker; the result appears in `dry_run`)."""
        broadcast = self.get_object()
        services.broadcast_dry_run_later(broadcast=broadcast)
        broadcast.refresh_from_db()
        return Response(BroadcastOutput(broadcast).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: BroadcastOutput})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._moved("start")

    @extend_schema(request=None, responses={202: BroadcastOutput})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._moved("pause")

    @extend_schema(request=None, responses={202: BroadcastOutput})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._moved("resume")

    @extend_schema(request=None, responses={202: BroadcastOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._moved("cancel")
