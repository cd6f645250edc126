"""`/api/v1/me/topics/`: a person lists the topics they may follow and subscribes or unsubscribes themselves."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from broadcasts import services
from broadcasts.models import Topic, TopicSubscription
from preferences.api.me import EndUserView


class MeTopicOutput(serializers.ModelSerializer):
    subscribed = serializers.SerializerMethodField()

    class Meta:
        model = Topic
        fields = ["key", "name", "description", "subscribed"]

    def get_subscribed(self, topic: Topic) -> bool:
        return topic.pk in self.context.get("mine", set())


class MeTopicViewSet(EndUserView, viewsets.ReadOnlyModelViewSet):
    """Topics you may follow, and whether you do."""

    serializer_class = MeTopicOutput
    queryset = Topic.objects.none()  # the model, for the API schema; get_queryset scopes it
    pagination_class = None
    lookup_field = "key"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self):
        return Topic.objects.filter(self_service=True).order_by("key")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        me = self.me()
        mine = TopicSubscription.objects.filter(recipient=me).values_list("topic_id", flat=True) if me.pk else []
        return {**context, "mine": set(mine)}

    @extend_schema(request=None, responses={200: MeTopicOutput})
    @action(detail=True, methods=["post", "delete"])
    def subscription(self, request, key=None):
        """POST: follow the topic; DELETE: stop following it. Either twice is the same as once."""
        topic = self.get_object()
        me = self.me(create=request.method == "POST")
        if request.method == "POST":
            services.topic_subscribe(topic=topic, recipients=[me])
        elif me.pk is not None:
            services.topic_unsubscribe(topic=topic, recipients=[me])
        context = {**self.get_serializer_context(), "mine": set()}
        if me.pk is not None:
            context["mine"] = set(TopicSubscription.objects.filter(recipient=me).values_list("topic_id", flat=True))
        return Response(MeTopicOutput(topic, context=context).data)
