"""What push adds to a privacy request (preferences.privacy runs them): the person's browsers and devices in the
export; on erasure, both deleted (an endpoint or a token identifies a device)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from preferences.models import Recipient
from preferences.privacy import erasure_step, export_section, iso

from .models import DeviceToken, PushSubscription


@export_section("push")
def push_export(recipient: Recipient) -> dict[str, list[dict[str, Any]]]:
    return {
        "browsers": [
            {"endpoint": s.endpoint, "user_agent": s.user_agent, "created_at": iso(s.created_at)}
            for s in PushSubscription.objects.filter(recipient=recipient).order_by("created_at", "id")
        ],
        "devices": [
            {"platform": d.platform, "token": d.token, "created_at": iso(d.created_at)}
            for d in DeviceToken.objects.filter(recipient=recipient).order_by("created_at", "id")
        ],
    }


@erasure_step
def push_erase(recipient: Recipient, now: datetime) -> dict[str, int]:
    browsers, _ = PushSubscription.objects.filter(recipient=recipient).delete()
    devices, _ = DeviceToken.objects.filter(recipient=recipient).delete()
    return {"push_subscriptions_deleted": browsers, "device_tokens_deleted": devices}
