"""The back office's view of webhook endpoints and event subscriptions: where, how the last call went; staff
disable and enable them (a secret is never shown here: the product backend got it when it registered the
endpoint), and see and replay the lifecycle events delivered to subscriptions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from commhub.admin import OrganisationOwnedAdmin

from . import services
from .models import EventDelivery, EventSubscription, WebhookEndpoint

_ANSWERS = [
    "created_at",
    "last_success_at",
    "last_failure_at",
    "last_answer",
    "disabled_reason",
    "previous_secret_until",
]


class _EndpointAdmin(OrganisationOwnedAdmin):
    list_filter = ["enabled"]
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


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_EndpointAdmin):
    list_display = ["url", "recipient", "enabled", "last_success_at", "last_failure_at", "last_answer"]
    search_fields = ["recipient__external_id", "url", "description"]
    list_select_related = ["recipient"]
    readonly_fields = ["recipient", "url", *_ANSWERS]
    fields = ["description", "enabled", *readonly_fields]


@admin.register(EventSubscription)
class EventSubscriptionAdmin(_EndpointAdmin):
    list_display = [
        "url",
        "event_names",
        "enabled",
        "failing_since",
        "last_success_at",
        "last_answer",
        "deliveries_link",
    ]
    search_fields = ["url", "description"]
    readonly_fields = ["url", "events", "notification_types", "channels", "failing_since", *_ANSWERS, "deliveries_link"]
    fields = ["description", "enabled", *readonly_fields]

    @admin.display(description="events")
    def event_names(self, subscription: EventSubscription) -> str:
        return ", ".join(subscription.events) or "all"

    @admin.display(description="deliveries")
    def deliveries_link(self, subscription: EventSubscription) -> str:
        url = reverse("admin:hooks_eventdelivery_changelist") + f"?subscription__id__exact={subscription.pk}"
        return format_html('<a href="{}">deliveries</a>', url)


@admin.register(EventDelivery)
class EventDeliveryAdmin(OrganisationOwnedAdmin):
    """Every event sent (or waiting) to each subscription; filter a failing one's, pick a range by date, and
    replay them (they go again with their ids)."""

    list_display = [
        "event_id",
        "event_type",
        "notification_id",
        "subscription",
        "state",
        "attempts",
        "next_attempt_at",
        "last_answer",
    ]
    list_filter = ["state", "event__name", "subscription"]
    search_fields = ["notification_id", "subscription__url", "last_answer"]
    date_hierarchy = "created_at"
    list_select_related = ["event", "subscription"]
    readonly_fields = [
        "event_id",
        "event_type",
        "subscription",
        "notification_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_answer",
        "delivered_at",
        "created_at",
        "payload",
    ]
    fields = readonly_fields
    actions = ["replay"]

    def has_add_permission(self, request) -> bool:
        return False  # written by the outbox only

    @admin.display(description="event")
    def event_id(self, delivery: EventDelivery) -> str:
        return delivery.event.public_id

    @admin.display(description="type", ordering="event__name")
    def event_type(self, delivery: EventDelivery) -> str:
        return f"notification.{delivery.event.name}"

    @admin.display(description="body")
    def payload(self, delivery: EventDelivery) -> dict:
        return delivery.event.payload

    @admin.action(description="Replay the selected events (send them again, now)", permissions=["change"])
    def replay(self, request, queryset) -> None:
        count = services.deliveries_replay(deliveries=queryset)
        messages.success(request, f"{count} event(s) will be sent again.")
