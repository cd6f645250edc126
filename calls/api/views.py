"""`/api/v1/calls/`: product backends schedule staff calls and read them; the caller's outcome and click-to-call."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from calls import selectors, services
from calls.dial import DialFailed, call_dial
from calls.models import Call, CallReminder, Outcome
from commhub.api import StrictInput
from commhub.errors import InvalidInput
from commhub.permissions import require_perms
from commhub.tenancy import DEFAULT_ORGANISATION_ID, acting_organisation_id
from preferences.models import Recipient


class ReminderOutput(serializers.ModelSerializer):
    notification = serializers.UUIDField(source="notification_id", read_only=True, allow_null=True)

    class Meta:
        model = CallReminder
        fields = ["whom", "minutes_before", "notification", "said", "created_at"]


class CallOutput(serializers.ModelSerializer):
    caller = serializers.CharField(source="caller.get_username", read_only=True)
    callee = serializers.CharField(source="callee.external_id", read_only=True, allow_null=True, default=None)
    reminders = ReminderOutput(many=True, read_only=True)

    class Meta:
        model = Call
        fields = [
            "id",
            "caller",
            "callee",
            "callee_name",
            "callee_phone",
            "reason",
            "scheduled_at",
            "duration_minutes",
            "notes",
            "remind_callee",
            "state",
            "outcome",
            "outcome_notes",
            "outcome_at",
            "outcome_by",
            "rescheduled_to",
            "dial_status",
            "dial_answered_at",
            "dial_seconds",
            "reminders",
            "created_at",
        ]


class CallInput(StrictInput):
    caller = serializers.CharField(max_length=150, help_text="The staff member's username.")
    callee = serializers.CharField(max_length=128, required=False, help_text="A recipient's id in your product ...")
    callee_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    callee_phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=300)
    scheduled_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField(min_value=1, max_value=480, default=30)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    remind_callee = serializers.BooleanField(default=False)


class OutcomeInput(StrictInput):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    new_time = serializers.DateTimeField(required=False, help_text="For `rescheduled`: when the new call is.")


def _caller(username: str):
    user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
    membership = getattr(user, "membership", None) if user is not None else None
    organisation = membership.organisation_id if membership is not None else DEFAULT_ORGANISATION_ID
    if user is None or organisation != acting_organisation_id():
        raise InvalidInput({"caller": [f"No staff user {username} in your organisation."]})
    return user


class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calls staff are to make: schedule one, read them (`?caller=`, `?state=`), record the outcome, dial."""

    serializer_class = CallOutput

    def get_permissions(self):
        perms = {
            "create": ("calls.add_call",),
            "outcome": ("calls.change_call",),
            "dial": ("calls.change_call",),
        }.get(self.action, ("calls.view_call",))
        return [require_perms(*perms)()]

    def get_queryset(self):
        calls = selectors.calls_all()
        if caller := self.request.query_params.get("caller"):
            calls = calls.filter(caller__username=caller)
        if state := self.request.query_params.get("state"):
            calls = calls.filter(state=state)
        return calls

    @extend_schema(request=CallInput, responses={201: CallOutput})
    def create(self, request):
        """Schedule a call; its reminders go at CALL_REMINDER_MINUTES (and CALL_CALLEE_REMINDER_MINUTES) before."""
        given = CallInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        callee = None
        if who := data.pop("callee", None):
            callee = Recipient.objects.filter(external_id=who).first()
            if callee is None:
                raise InvalidInput({"callee": [f"No recipient {who}."]})
        call = services.call_schedule(
            caller=_caller(data.pop("caller")), callee=callee, created_by=request.user.get_username(), **data
        )
        return Response(CallOutput(call).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OutcomeInput, responses={200: CallOutput})
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        """How it went: completed, no_answer, voicemail, rescheduled (with new_time: a new call), cancelled."""
        given = OutcomeInput(data=request.data)
        given.is_valid(raise_exception=True)
        call = services.call_outcome_record(call=self.get_object(), actor=request.user, **given.validated_data)
        return Response(CallOutput(call).data)

    @extend_schema(request=None, responses={202: CallOutput})
    @action(detail=True, methods=["post"])
    def dial(self, request, pk=None):
        """Click-to-call: Twilio rings the caller's phone (recipient staff:<caller>) and bridges it to the callee."""
        call = self.get_object()
        try:
            call = call_dial(call=call, user=call.caller)
        except DialFailed as exc:  # Twilio down or failing: try again shortly
            return Response(
                {"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "30"}
            )
        return Response(CallOutput(call).data, status=status.HTTP_202_ACCEPTED)
