"""The money back office: prices (history kept: a change is a new rule from a date), the read-only cost ledger,
budgets with their spend per period."""

from django.contrib import admin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from commhub.admin import ReadOnlyAdmin

from .budgets import period_start
from .models import Budget, BudgetSpend, CostEntry, PricingRule


@admin.register(PricingRule)
class PricingRuleAdmin(admin.ModelAdmin):
    """Prices are history: change a price by ending the old rule (effective to) and adding one from that date."""

    list_display = [
        "channel",
        "provider_or_any",
        "country_prefix",
        "unit",
        "price",
        "currency",
        "effective_from",
        "effective_to",
        "is_active",
    ]
    list_filter = ["channel", "is_active", "currency"]
    search_fields = ["provider", "country_prefix"]  # the form shows the model's fields in their order

    @admin.display(description="provider", ordering="provider")
    def provider_or_any(self, rule: PricingRule) -> str:
        return rule.provider or "any"


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
        "estimated_amount",
    ]
    list_filter = ["channel", "provider", "is_estimate", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["notification__id", "notification__recipient__external_id"]
    list_select_related = ["notification"]
    date_hierarchy = "created_at"
    show_full_result_count = False


class BudgetSpendInline(admin.TabularInline):
    model = BudgetSpend
    extra = 0
    can_delete = False
    fields = ["period_start", "subject", "spent", "refused", "alerted_at", "updated_at"]
    readonly_fields = fields
    ordering = ["-period_start"]
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[BudgetSpend]:
        return super().get_queryset(request)[:31]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "channel", "period", "limit", "currency", "action", "spent_now", "is_active"]
    list_filter = ["action", "period", "scope", "is_active"]
    search_fields = ["name"]
    autocomplete_fields = ["recipient"]
    inlines = [BudgetSpendInline]

    @admin.display(description="committed this period")
    def spent_now(self, budget: Budget) -> str:
        start = period_start(budget, timezone.now())
        total = BudgetSpend.objects.filter(budget=budget, period_start=start).aggregate(t=Sum("spent"))["t"]
        return f"{(total or 0):.4f} {budget.currency}"
