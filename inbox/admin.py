"""The back office's view of in-app inboxes: staff read a person's items (search by their id) and see whether
they were seen, read or archived; only the person changes that."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from commhub.admin import OrganisationOwnedAdmin, ReadOnlyAdmin

from .models import InboxItem


@admin.register(InboxItem)
class InboxItemAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "title", "category", "seen_at", "read_at", "archived_at"]
    list_filter = ["category", ("read_at", admin.EmptyFieldListFilter), ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["recipient__external_id", "title", "body"]
    list_select_related = ["recipient"]
    readonly_fields = [
        "recipient",
        "notification_link",
        "title",
        "body",
        "action_url",
        "action_label",
        "category",
        "created_at",
        "seen_at",
        "read_at",
        "archived_at",
    ]
    fields = readonly_fields
    ordering = ["-created_at"]
    show_full_result_count = False  # a count over millions of items on every page

    @admin.display(description="notification")
    def notification_link(self, obj: InboxItem) -> str:
        url = reverse("admin:notifications_notification_change", args=[obj.notification_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.notification_id)[:8])
