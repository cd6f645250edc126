"""An event as producers send it (the API's body, a stream message's JSON), read and checked in one place."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from commhub.api import StrictInput

from .services import EventIn

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

    def to_internal_value(self, data: Any) -> Any:
        given = data.get("recipients") if isinstance(data, dict) else None
        if isinstance(given, list) and not all(isinstance(r, str) for r in given):
            raise serializers.ValidationError({"recipients": ["A list of external ids, each a string."]})
        return super().to_internal_value(data)

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


def event_from_message(raw: bytes | str | None) -> EventIn | str:
    """A stream message as an event, or the reason it is not one (for the dead-letter table)."""
    try:
        body = json.loads(raw if raw is not None else b"")
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    except RecursionError:
        return "not JSON this service takes: nested too deeply"
    if not isinstance(body, dict):
        return "not a JSON object"
    item = EventInput(data=body)
    if not item.is_valid():
        return json.dumps(item.errors, default=str)
    return item.to_event()
