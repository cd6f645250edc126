from django.contrib import admin

from commhub.admin import ReadOnlyAdmin

from .models import CostEntry, PricingRule


@admin.register(PricingRule)
class PricingRuleAdmin(admin.ModelAdmin):
    list_display = ["channel", "provider", "unit", "price", "currency", "is_active", "updated_at"]
    list_filter = ["channel", "is_active"]
    list_editable = ["price", "is_active"]


@admin.register(CostEntry)
class CostEntryAdmin(ReadOnlyAdmin):
    """The ledger is written by the pipeline only."""

    list_display = [
        "created_at",
        "channel",
        "provider",
        "units",
        "unit_price",
        "amount",
        "currency",
        "is_estimate",
    ]
    list_filter = ["channel", "provider", "is_estimate", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["notification__id", "notification__recipient__external_id"]
    list_select_related = ["notification"]
    date_hierarchy = "created_at"
    show_full_result_count = False
