"""`/api/v1/events/`: product backends report what happened; the rules staff publish decide who hears of it.

POST one event (202) or a batch (`/batch/`, each item on its own); the same id twice is one event (the answer
says `duplicate`). GET lists events and shows one with what each rule did with it.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from commhub.api import StrictInput
from commhub.conf import knobs
from commhub.permissions import require_perms
from triggers.models import Event, RuleRun
from triggers.services import EventIn, Ingested, events_ingest

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
MAX_RECIPIENTS = 1000


def _path_value(data: Any, path: str) -> Any:
    """`data.customer.id` (or `customer.id`) in the event's data."""
    value = data
    for part in path.removeprefix("data.").split("."):
        if not isinstance(value, dict) or part not in value:
            raise serializers.ValidationError({"recipient_path": [f"{path!r} is not in the event's data."]})
        value = value[part]
    return value


class EventInput(StrictInput):
    id = serializers.CharField(max_length=200, help_text="Your event id: sending it again is harmless.")
    name = serializers.CharField(max_length=120, help_text="What happened, e.g. payment.failed.")
    occurred_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    actor = serializers.CharField(max_length=200, required=False, allow_blank=True)
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, max_length=MAX_RECIPIENTS
    )
    recipient_path = serializers.CharField(
        max_length=200, required=False, help_text="Where in `data` the recipient's id (or a list of ids) is."
    )
    data = serializers.DictField(required=False)  # type: ignore[assignment]  # the API names it data

    def validate_name(self, value: str) -> str:
        if not NAME.match(value):
            raise serializers.ValidationError("Letters, digits and . _ : - only, starting with a letter or digit.")
        return value

    def validate(self, attrs: dict) -> dict:
        if "recipients" in attrs and "recipient_path" in attrs:
            raise serializers.ValidationError({"recipient_path": ["Give recipients or recipient_path, not both."]})
        if "recipient_path" in attrs:
            found = _path_value(attrs.get("data", {}), attrs["recipient_path"])
            found = found if isinstance(found, list) else [found]
            if not found or not all(isinstance(r, str | int) and not isinstance(r, bool) for r in found):
                raise serializers.ValidationError({"recipient_path": ["It must hold an id or a list of ids."]})
            attrs["recipients"] = [str(r) for r in found][:MAX_RECIPIENTS]
        return attrs

    def to_event(self) -> EventIn:
        v = self.validated_data
        return EventIn(
            uid=v["id"],
            name=v["name"],
            occurred_at=v.get("occurred_at") or timezone.now(),
            actor=v.get("actor", ""),
            recipients=v.get("recipients", []),
            data=v.get("data", {}),
        )


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
        responses={202: EventOutput},
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
        item = EventInput(data=request.data)
        item.is_valid(raise_exception=True)
        [done] = events_ingest([item.to_event()])
        return Response(_answer(done), status=status.HTTP_200_OK if done.duplicate else status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=inline_serializer("EventBatchInput", {"events": serializers.ListField(child=serializers.DictField())}),
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
