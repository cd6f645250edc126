"""The audit trail in the back office: searchable, filterable, never editable (see models.py)."""

from django.contrib import admin

from commhub.admin import OrganisationOwnedAdmin, ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    # five columns fit a laptop's width; the kind, the object's type and id are filters and on the entry's page
    list_display = ("at", "actor", "source", "action", "object_repr")
    list_filter = ("action", "actor_kind", "source", "object_type")
    search_fields = ("actor", "action", "object_type", "object_id", "object_repr", "detail")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
