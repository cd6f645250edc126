"""The back office for events and rules: staff write a rule's next version as a draft, publish it (the live one
retires; a published version is frozen), and read every event with what each rule did with it."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages

from commhub.admin import OrganisationOwnedAdmin, ReadOnlyAdmin
from commhub.errors import DomainError

from .expressions import ExpressionError, check
from .models import DeadEvent, DigestItem, DigestWindow, Event, Rule, RuleRun, RuleVersion
from .services import rule_version_draft, rule_version_publish


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    fields = ["number", "state", "condition", "notification_type", "delay_seconds", "published_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # a version is written on its own page (Add rule version), as a draft


@admin.register(Rule)
class RuleAdmin(OrganisationOwnedAdmin):
    list_display = ["key", "event_name", "enabled", "live_version", "description"]
    list_filter = ["enabled", "event_name"]
    search_fields = ["key", "event_name", "description"]
    fields = ["key", "event_name", "description", "enabled"]
    inlines = [RuleVersionInline]

    @admin.display(description="live")
    def live_version(self, obj: Rule) -> str:
        live = obj.live
        return f"v{live.number}" if live else "none published"


class RuleVersionForm(forms.ModelForm):
    class Meta:
        model = RuleVersion
        fields = ["rule", *RuleVersion.BEHAVIOUR]

    def clean(self):
        data = super().clean()
        if data.get("digest") and data.get("delay_seconds"):
            self.add_error("delay_seconds", "A digesting rule sends when its window closes: no delay as well.")
        for name in ("condition", "recipients_expression", "digest_key"):
            try:
                check(data.get(name) or "")
            except ExpressionError as exc:
                self.add_error(name, str(exc))
        data_map = data.get("data_map")
        if data_map is not None and not isinstance(data_map, dict):
            self.add_error("data_map", 'An object: {"variable": "CEL expression"}.')
        elif data_map:
            for variable, source in data_map.items():
                try:
                    check(str(source))
                except ExpressionError as exc:
                    self.add_error("data_map", f"{variable}: {exc}")
        cancel_on = data.get("cancel_on")
        if cancel_on is not None and not (isinstance(cancel_on, list) and all(isinstance(n, str) for n in cancel_on)):
            self.add_error("cancel_on", 'A list of event names, e.g. ["profile.completed"].')
        if data.get("recipients_from") == RuleVersion.Recipients.TOPIC and not data.get("recipients_topic"):
            self.add_error("recipients_topic", "Required when the recipients are a topic's subscribers.")
        if data.get("recipients_from") == RuleVersion.Recipients.EXPRESSION and not data.get("recipients_expression"):
            self.add_error("recipients_expression", "Required when the recipients come from an expression.")
        return data


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin):
    form = RuleVersionForm
    list_display = ["__str__", "state", "notification_type", "delay_seconds", "published_at", "created_by"]
    list_filter = ["state"]
    list_select_related = ["rule", "notification_type"]
    search_fields = ["rule__key", "condition"]
    actions = ["publish", "copy_as_draft"]

    def get_readonly_fields(self, request, obj=None):
        frozen = ["number", "state", "published_at", "created_by"]
        if obj is not None and obj.state != RuleVersion.State.DRAFT:
            return [*frozen, *RuleVersionForm.Meta.fields]  # a published (or retired) version never changes
        return frozen if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        behaviour = {name: form.cleaned_data[name] for name in RuleVersionForm.Meta.fields if name != "rule"}
        saved = rule_version_draft(rule=form.cleaned_data["rule"], actor=request.user, **behaviour)
        obj.pk, obj.number, obj.state = saved.pk, saved.number, saved.state
        obj._state.adding = False

    @admin.action(description="Publish the selected draft (the live version retires)")
    def publish(self, request, queryset):
        for version in queryset.select_related("rule"):
            try:
                rule_version_publish(version=version, actor=request.user)
                self.message_user(request, f"{version} is live.")
            except DomainError as exc:
                self.message_user(request, f"{version}: {exc}", level=messages.ERROR)

    @admin.action(description="Copy as a new draft (to change a published rule)")
    def copy_as_draft(self, request, queryset):
        for version in queryset.select_related("rule"):
            behaviour = {name: getattr(version, name) for name in RuleVersion.BEHAVIOUR}
            draft = rule_version_draft(rule=version.rule, actor=request.user, **behaviour)
            self.message_user(request, f"{draft} drafted from {version}: edit it, then publish it.")


class RuleRunInline(admin.TabularInline):
    model = RuleRun
    fields = ["rule_version", "recipient", "outcome", "notification", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    list_display = ["uid", "name", "occurred_at", "source", "rules_matched", "notifications_made", "received_at"]
    list_filter = ["source", "name"]
    search_fields = ["uid", "name", "actor"]
    date_hierarchy = "received_at"
    fields = ["uid", "name", "occurred_at", "actor", "recipients", "data_pretty", "source", "received_at"]
    readonly_fields = fields
    inlines = [RuleRunInline]

    @admin.display(description="data")
    def data_pretty(self, obj: Event) -> str:
        return json.dumps(obj.data, indent=2, ensure_ascii=False)


class DigestItemInline(admin.TabularInline):
    model = DigestItem
    fields = ["event", "notification", "data", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DigestWindow)
class DigestWindowAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    list_display = ["of", "recipient", "key", "state", "items_count", "opened_at", "closes_at", "zone"]
    list_filter = ["state", "notification_type"]
    list_select_related = ["rule", "notification_type"]
    search_fields = ["recipient", "key", "rule__key", "notification_type__key"]
    fields = ["rule", "rule_version", "notification_type", "recipient", "key", "state", "items_count"]
    fields += ["opened_at", "closes_at", "zone"]
    fields += ["notification", "sent_at"]
    readonly_fields = fields
    inlines = [DigestItemInline]

    @admin.display(description="digest of")
    def of(self, obj: DigestWindow) -> str:
        return f"rule {obj.rule.key}" if obj.rule_id else f"type {obj.notification_type.key}"


@admin.register(DeadEvent)
class DeadEventAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    list_display = ["received_at", "source", "where", "reason"]
    list_filter = ["source"]
    search_fields = ["reason", "where"]
    fields = ["source", "where", "reason", "payload", "received_at"]
    readonly_fields = fields
