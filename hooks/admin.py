"""The back office's view of webhook endpoints: whose, where, how the last call went; staff disable and enable
them (the secret is never shown here: the product backend got it when it registered the endpoint)."""

from __future__ import annotations

from django.contrib import admin, messages

from commhub.admin import OrganisationOwnedAdmin

from . import services
from .models import WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrganisationOwnedAdmin):
    list_display = ["url", "recipient", "enabled", "last_success_at", "last_failure_at", "last_answer"]
    list_filter = ["enabled"]
    search_fields = ["recipient__external_id", "url", "description"]
    list_select_related = ["recipient"]
    readonly_fields = [
        "recipient",
        "url",
        "created_at",
        "last_success_at",
        "last_failure_at",
        "last_answer",
        "disabled_reason",
        "previous_secret_until",
    ]
    fields = ["description", "enabled", *readonly_fields]
    actions = ["disable", "enable"]

    def has_add_permission(self, request) -> bool:
        return False  # registered through the API, which hands the secret to the product backend

    @admin.action(description="Disable the selected endpoints", permissions=["change"])
    def disable(self, request, queryset) -> None:
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, enabled=False, disabled_reason=f"disabled by {request.user}")
        messages.success(request, f"{queryset.count()} endpoint(s) disabled.")

    @admin.action(description="Enable the selected endpoints", permissions=["change"])
    def enable(self, request, queryset) -> None:
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, enabled=True)
        messages.success(request, f"{queryset.count()} endpoint(s) enabled.")
