"""The end-user view of notifications: a person reads only the notifications sent to them."""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets

from notifications import selectors
from notifications.models import Notification
from preferences.api.me import EndUserView


class MeNotificationOutput(serializers.ModelSerializer):
    type = serializers.CharField(source="notification_type.key")

    class Meta:
        model = Notification
        fields = [
            "id",
            "type",
            "channel",
            "status",
            "created_at",
            "send_at",
            "sent_at",
            "delivered_at",
            "rendered_subject",
            "rendered_body",
            "decision_trace",
        ]


class MeNotificationViewSet(EndUserView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MeNotificationOutput
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self):
        return selectors.notifications_of_recipient(self.request.user.external_id)
