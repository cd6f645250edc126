"""The money back office: prices (history kept: a change is a new rule from a date), the read-only cost ledger,
budgets with their spend per period."""

from django.contrib import admin
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from commhub.admin import OrganisationOwnedAdmin, ReadOnlyAdmin, SafeAutocompleteAdmin, SharedOrOwnAdmin

from .budgets import period_start
from .models import Budget, BudgetSpend, CostEntry, PricingRule


@admin.register(PricingRule)
class PricingRuleAdmin(SharedOrOwnAdmin):
    """Prices are history: change a price by ending the old rule (effective to) and adding one from that date.
    Another organisation than the default one adds its own rates, which price its messages before the shared
    list."""

    readonly_fields = ["organisation"]
    list_display = [
        "owner",
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


@admin.register(Budget)
class BudgetAdmin(OrganisationOwnedAdmin, SafeAutocompleteAdmin):
    """A budget's page shows what it committed, period by period; pausing it is unticking "active"."""

    list_display = ["name", "scope", "channel", "period", "limit", "currency", "action", "spent_now", "is_active"]
    list_editable = ["is_active"]
    list_filter = ["action", "period", "scope", "is_active"]
    search_fields = ["name"]
    autocomplete_fields = ["recipient"]
    readonly_fields = ["spent_now", "spend_history"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "action", "limit", "currency", "period"]}),
        ("What it covers", {"fields": ["scope", "notification_type", "recipient", "channel", "include_critical"]}),
        ("Alerts", {"fields": ["notify"]}),
        ("Spend", {"fields": ["spent_now", "spend_history"]}),
    ]

    @admin.display(description="committed this period")
    def spent_now(self, budget: Budget) -> str:
        if budget.pk is None:
            return "-"
        start = period_start(budget, timezone.now())
        total = BudgetSpend.objects.filter(budget=budget, period_start=start).aggregate(t=Sum("spent"))["t"]
        return f"{(total or 0):.4f} {budget.currency}"

    @admin.display(description="the last 12 periods")
    def spend_history(self, budget: Budget) -> str:
        """Per period: committed (all recipients together for per-recipient budgets), refused, alerted."""
        if budget.pk is None:
            return "-"
        periods = (
            BudgetSpend.objects.filter(budget=budget)
            .values("period_start")
            .annotate(spent=Sum("spent"), refused=Sum("refused"), subjects=Count("pk"), alerted=Max("alerted_at"))
            .order_by("-period_start")[:12]
        )
        if not periods:
            return "Nothing committed yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    p["period_start"],
                    f"{p['spent']:.4f}",
                    budget.currency,
                    p["refused"],
                    p["subjects"] if budget.scope == Budget.Scope.EACH_RECIPIENT else "",
                    f"{p['alerted']:%Y-%m-%d %H:%M} UTC" if p["alerted"] else "",
                )
                for p in periods
            ),
        )
        header = "<tr><th>period</th><th>committed</th><th>refused</th><th>recipients</th><th>alerted</th></tr>"
        return format_html("<table>{}{}</table>", mark_safe(header), rows)  # noqa: S308 (a constant)
