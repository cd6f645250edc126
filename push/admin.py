"""The back office's view of where push notifications go: staff see a person's browsers and devices (search by
the person's id) and may remove one (a lost phone); only the person registers them."""

from __future__ import annotations

from django.contrib import admin

from commhub.admin import OrganisationOwnedAdmin

from .models import DeviceToken, PushSubscription


class _RemoveOnly(OrganisationOwnedAdmin):
    search_fields = ["recipient__external_id"]
    list_select_related = ["recipient"]
    ordering = ["-created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(_RemoveOnly):
    list_display = ["created_at", "recipient", "endpoint_host", "user_agent", "last_sent_at"]
    readonly_fields = ["recipient", "endpoint", "user_agent", "created_at", "last_sent_at"]
    fields = readonly_fields

    @admin.display(description="push service")
    def endpoint_host(self, obj: PushSubscription) -> str:
        return obj.endpoint.split("/")[2] if obj.endpoint.count("/") >= 2 else obj.endpoint


@admin.register(DeviceToken)
class DeviceTokenAdmin(_RemoveOnly):
    list_display = ["created_at", "recipient", "platform", "token_end", "last_sent_at"]
    list_filter = ["platform"]
    readonly_fields = ["recipient", "platform", "token", "created_at", "last_sent_at"]
    fields = readonly_fields

    @admin.display(description="token")
    def token_end(self, obj: DeviceToken) -> str:
        return f"…{obj.token[-12:]}"
