"""The audit trail in the back office: searchable, filterable, never editable (see models.py)."""

from django.contrib import admin

from commhub.admin import ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "actor_kind", "source", "action", "object_type", "object_id", "object_repr")
    list_filter = ("action", "actor_kind", "source", "object_type")
    search_fields = ("actor", "action", "object_type", "object_id", "object_repr", "detail")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
