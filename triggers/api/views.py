"""`/api/v1/events/`: product backends report what happened; the rules staff publish decide who hears of it.

POST one event (202) or a batch (`/batch/`, each item on its own); the same id twice is one event (the answer
says `duplicate`). GET lists events and shows one with what each rule did with it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.conf import knobs
from commhub.permissions import require_perms
from triggers.inputs import EventInput
from triggers.models import Event, RuleRun
from triggers.services import EventIn, Ingested, events_ingest


class RunOutput(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule_version.rule.key")
    version = serializers.IntegerField(source="rule_version.number")
    notification = serializers.UUIDField(source="notification_id", allow_null=True)

    class Meta:
        model = RuleRun
        fields = ["rule", "version", "recipient", "outcome", "notification", "detail", "created_at"]


class EventOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="uid")

    class Meta:
        model = Event
        fields = [
            "id",
            "name",
            "occurred_at",
            "actor",
            "recipients",
            "source",
            "received_at",
            "rules_matched",
            "notifications_made",
        ]


class EventDetailOutput(EventOutput):
    data = serializers.JSONField()  # type: ignore[assignment]  # the API names it data
    runs = RunOutput(many=True, read_only=True)

    class Meta(EventOutput.Meta):
        fields = [*EventOutput.Meta.fields, "data", "runs"]


def _answer(done: Ingested) -> dict:
    return {**EventOutput(done.event).data, "duplicate": done.duplicate}


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Report events; read them back with what the rules made of them."""

    lookup_field = "uid"
    lookup_value_regex = "[^/]+"

    @property
    def throttle_scope(self) -> str | None:
        return "sends" if getattr(self, "action", None) in ("create", "batch") else None

    def get_permissions(self):
        perm = "triggers.add_event" if self.action in ("create", "batch") else "triggers.view_event"
        return [require_perms(perm)()]

    def get_queryset(self):
        events = Event.objects.order_by("-received_at")
        if self.action == "retrieve":
            return events.prefetch_related("runs__rule_version__rule")
        return events

    def get_serializer_class(self):
        return EventDetailOutput if self.action == "retrieve" else EventOutput

    @extend_schema(
        request=EventInput,
        responses={202: EventOutput, 200: EventOutput},
        examples=[
            OpenApiExample(
                "A failed payment",
                request_only=True,
                value={
                    "id": "evt_123",
                    "name": "payment.failed",
                    "recipients": ["123"],
                    "data": {"amount": "$49.00", "plan": "pro", "attempt": 2},
                },
            )
        ],
    )
    def create(self, request):
        """Report one event: 202 when it is new, 200 (`duplicate: true`) when its id was seen before."""
        item = EventInput(data=request.data)
        item.is_valid(raise_exception=True)
        [done] = events_ingest([item.to_event()])
        return Response(_answer(done), status=status.HTTP_200_OK if done.duplicate else status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=inline_serializer(
            "EventBatchInput",
            {
                "events": serializers.ListField(
                    child=serializers.JSONField(),
                    min_length=1,
                    help_text="Events as for POST /api/v1/events/; each is validated on its own (one that is "
                    "invalid, or not an object, is reported in results and does not stop the others).",
                )
            },
        ),
        responses={200: inline_serializer("EventBatchOutput", {"results": serializers.ListField()})},
    )
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Up to COMMHUB_BATCH_MAX_ITEMS events; a malformed one fails alone, the rest are taken together."""
        raw = request.data.get("events") if isinstance(request.data, dict) else None
        limit = knobs().batch_max_items
        if not isinstance(raw, list) or not raw:
            raise serializers.ValidationError({"events": ["A non-empty list is required."]})
        if len(raw) > limit:
            raise serializers.ValidationError({"events": [f"At most {limit} items per batch; got {len(raw)}."]})
        parsed: list[tuple[int, EventIn]] = []
        results: list[dict[str, Any]] = [{} for _ in raw]
        for index, one in enumerate(raw):
            item = EventInput(data=one) if isinstance(one, dict) else None
            if item is not None and item.is_valid():
                parsed.append((index, item.to_event()))
            else:
                errors = item.errors if item is not None else {"non_field_errors": ["Each item must be an object."]}
                results[index] = {"index": index, "success": False, "errors": errors}
        done = events_ingest([event for _, event in parsed]) if parsed else []
        for (index, _), outcome in zip(parsed, done, strict=True):
            results[index] = {"index": index, "success": True, **_answer(outcome)}
        taken = sum(1 for r in results if r["success"])
        duplicates = sum(1 for r in results if r.get("duplicate"))
        summary = {"total": len(raw), "accepted": taken, "rejected": len(raw) - taken, "duplicates": duplicates}
        return Response({"summary": summary, "results": results})
