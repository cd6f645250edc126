"""The back office's topics and broadcasts: write a broadcast, dry-run it (counts appear on its page), start it,
watch its progress bar, pause, resume or cancel it."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from commhub.admin import OrganisationOwnedAdmin
from commhub.errors import DomainError

from . import services
from .models import Broadcast, Topic


@admin.register(Topic)
class TopicAdmin(OrganisationOwnedAdmin):
    list_display = ["key", "name", "self_service", "subscriber_count"]
    search_fields = ["key", "name"]
    fields = ["key", "name", "description", "self_service"]

    def get_queryset(self, request):
        return services.topics_counted(super().get_queryset(request))

    @admin.display(description="subscribers", ordering="subscriber_count")
    def subscriber_count(self, obj: Topic) -> int:
        return obj.subscriber_count


@admin.register(Broadcast)
class BroadcastAdmin(OrganisationOwnedAdmin):
    list_display = ["name", "notification_type", "audience", "topic", "state", "progress_bar", "created_at"]
    list_filter = ["state", "audience"]
    list_select_related = ["notification_type", "topic"]
    search_fields = ["name"]
    autocomplete_fields = []
    actions = ["dry_run", "start", "pause", "resume", "cancel"]
    readonly_fields = [
        "state",
        "progress_bar",
        "audience_size",
        "processed",
        "accepted",
        "refused",
        "invalid",
        "dry_run_said",
        "started_at",
        "finished_at",
        "created_by",
    ]

    def get_fields(self, request, obj=None):
        editable = ["name", "notification_type", "channel", "data", "audience", "topic", "attribute_filter"]
        return editable + (self.readonly_fields if obj is not None else [])

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state != Broadcast.State.DRAFT:  # what is being sent does not change
            return [*self.get_fields(request, obj)]
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.state != Broadcast.State.DRAFT:
            return False  # what is being (or was) sent stays as it was; the actions still pause, resume, cancel
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.state != Broadcast.State.DRAFT:
            return False  # the record of what went out, and to whom, stays
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        try:
            services.broadcast_check(obj)
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc}", level=messages.ERROR)
            return
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.display(description="progress")
    def progress_bar(self, obj: Broadcast) -> str:
        if not obj.audience_size:
            return "-"
        return format_html(
            '<progress value="{}" max="{}"></progress> {} / {}',
            obj.processed,
            obj.audience_size,
            obj.processed,
            obj.audience_size,
        )

    @admin.display(description="dry run")
    def dry_run_said(self, obj: Broadcast) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.dry_run, indent=2)) if obj.dry_run else "-"

    def _each(self, request, queryset, do, said: str) -> None:
        for broadcast in queryset.select_related("notification_type"):
            try:
                do(broadcast)
                self.message_user(request, f"{broadcast}: {said}")
            except DomainError as exc:
                self.message_user(request, f"{broadcast}: {exc}", level=messages.ERROR)

    @admin.action(description="Dry run: count what sending it now would do")
    def dry_run(self, request, queryset):
        for broadcast in queryset.select_related("notification_type"):
            try:
                now = services.broadcast_dry_run_later(broadcast=broadcast)
            except DomainError as exc:
                self.message_user(request, f"{broadcast}: {exc}", level=messages.ERROR)
                continue
            if now:
                said = broadcast.dry_run
                why = ", ".join(f"{k} {v}" for k, v in said["refused"].items()) or "none"
                self.message_user(
                    request,
                    f"{broadcast}: {said['recipients']} recipients, {said['accepted']} would be sent, "
                    f"{sum(said['refused'].values())} refused ({why}), {said['invalid']} invalid",
                )
            else:
                self.message_user(request, f"{broadcast}: the dry run is running on a worker; its counts appear here")

    @admin.action(description="Start sending")
    def start(self, request, queryset):
        self._each(request, queryset, lambda b: services.broadcast_start(broadcast=b, actor=request.user), "started")

    def _move(self, request, queryset, move: str, said: str) -> None:
        self._each(
            request, queryset, lambda b: services.broadcast_move(broadcast=b, move=move, actor=request.user), said
        )

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        self._move(request, queryset, "pause", "paused")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        self._move(request, queryset, "resume", "resumed")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._move(request, queryset, "cancel", "cancelled")
