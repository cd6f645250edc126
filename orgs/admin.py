"""Organisations in the back office: superusers create them and put users in them."""

from django.contrib import admin
from django.db.models import Count

from .models import Membership, Organisation


class MembershipInline(admin.StackedInline):
    """On a user's page: the one organisation they belong to (none: the default organisation)."""

    model = Membership
    extra = 0
    max_num = 1
    can_delete = True
    fields = ["organisation"]

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "members", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def members(self, obj: Organisation) -> int:
        return obj.member_count  # type: ignore[attr-defined]  # annotated above

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser  # an organisation's staff never see the others

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its rows would be orphaned: deactivate it instead
