"""The end-user views that need the notification catalogue: a person reads only the notifications sent to them,
and what their preferences mean for every type (the other /me/ views are preferences.api.me)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from commhub.enduser import end_user_of
from notifications import selectors
from notifications.models import Notification
from notifications.person_trace import person_reason, person_trace
from preferences.api.me import EndUserView
from preferences.policy import PersonCheck, facts_for, person_checks


class TraceStepOutput(serializers.Serializer):
    check = serializers.CharField()
    outcome = serializers.CharField()
    reason = serializers.CharField(help_text="Written for the person: never operators' budgets, notes or ids.")


class MeNotificationOutput(serializers.ModelSerializer):
    type = serializers.CharField(source="notification_type.key")
    decision_trace = serializers.SerializerMethodField(help_text="Why it was (or was not) sent, step by step.")

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

    @extend_schema_field(TraceStepOutput(many=True))
    def get_decision_trace(self, obj: Notification) -> list[dict[str, str]]:
        return person_trace(obj.decision_trace, refusal_code=obj.error_code, channel=obj.channel)


@extend_schema_view(
    list=extend_schema(description="The notifications sent (or meant) to you, newest first, each with why."),
    retrieve=extend_schema(description="One of your notifications, with why it was or was not sent."),
)
class MeNotificationViewSet(EndUserView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your notifications."""

    serializer_class = MeNotificationOutput
    queryset = Notification.objects.none()  # the model, for the API schema; get_queryset scopes it to you
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the API schema is being generated: nobody is calling
            return Notification.objects.none()
        return selectors.notifications_of_recipient(end_user_of(self.request).external_id)


class MeEffectivePreferencesView(EndUserView, APIView):
    """What your preferences mean."""

    @extend_schema(responses={200: OpenApiResponse(description="Per type x channel: would it reach you, and why")})
    def get(self, request):
        """For every active type on each channel it may use: whether it would reach you now and why
        (suppression, consent and preference checks, as the pipeline runs them)."""
        recipient = self.me()
        asked = [
            (ntype, channel)
            for ntype in selectors.notification_types_all().filter(is_active=True).prefetch_related("type_channels")
            for channel in ntype.allowed_channels
        ]
        questions = [PersonCheck.of(recipient=recipient, ntype=ntype, channel=channel) for ntype, channel in asked]
        rows = []
        for (ntype, channel), verdicts in zip(asked, person_checks(questions, facts=facts_for(questions)), strict=True):
            rows.append(
                {
                    "type": ntype.key,
                    "name": ntype.name,
                    "category": ntype.category,
                    "purpose": ntype.purpose,
                    "policy": ntype.preference_policy,
                    "channel": channel,
                    "allowed": not verdicts[-1].refused,
                    "checks": [
                        {
                            "check": v.check,
                            "outcome": v.outcome,
                            "reason": person_reason(v.check, v.outcome, v.reason, code=v.code, channel=channel),
                        }
                        for v in verdicts
                    ],
                }
            )
        return Response(rows)
