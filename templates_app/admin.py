from django.contrib import admin

from .models import Template
from .rendering import TemplateSyntaxProblem, required_paths


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["notification_type", "channel", "subject", "is_active", "updated_at"]
    list_filter = ["channel", "is_active", "notification_type"]
    search_fields = ["notification_type__key", "subject", "body", "html"]
    list_select_related = ["notification_type"]
    readonly_fields = ["variables", "created_at", "updated_at"]
    fields = [
        "notification_type",
        "channel",
        "is_active",
        "subject",
        "body",
        "html",
        "variables",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="variables a send must provide")
    def variables(self, obj: Template) -> str:
        if not obj.pk:
            return "-"
        paths = set()
        try:
            for source in (obj.subject, obj.body, obj.html):
                paths |= {".".join(p) for p in required_paths(source)}
        except TemplateSyntaxProblem:
            return "(fix the syntax error first)"
        return ", ".join(sorted(paths)) or "(none)"
