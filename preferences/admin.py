"""The back office for recipients, their preferences, the consent ledger and suppressions.

The ledger is append-only here too: staff (superusers included) can read it and add an entry, never change
or delete one. Suppressions are added and lifted through the services, so who did it and why is kept.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from commhub.admin import OrganisationOwnedAdmin, SafeAutocompleteAdmin

from .models import ConsentRecord, ConsentSource, Preference, Recipient, Suppression, SuppressionReason
from .privacy import recipient_erase, recipient_export_data
from .services import (
    Evidence,
    consent_record,
    normalise_address,
    recipient_fields_clean,
    suppression_add,
    suppression_lift,
)

_CONTACT_FIELDS = ("email", "phone", "timezone", "locale", "attributes", "send_window_start", "send_window_end")


class RecipientForm(ModelForm):
    # Any international notation the API takes (+1 (415) 555-0123); clean() stores it as E.164.
    phone = forms.CharField(required=False, max_length=32, help_text="International form, e.g. +14155550123.")

    class Meta:
        model = Recipient
        fields = ["external_id", *_CONTACT_FIELDS]

    def clean(self):
        cleaned = super().clean() or {}
        fields = {k: cleaned[k] for k in _CONTACT_FIELDS if k in cleaned}
        try:
            cleaned.update(recipient_fields_clean(fields))  # same rules as the API (E.164, IANA zone, ...)
        except ValidationError as exc:
            for field, messages_ in exc.message_dict.items():
                self.add_error(field, messages_)
        return cleaned


class PreferenceInline(admin.TabularInline):
    model = Preference
    extra = 0
    fields = ["notification_type", "category", "channel", "enabled", "updated_at"]
    readonly_fields = ["updated_at"]


class ConsentRecordInline(admin.TabularInline):
    """The recipient's ledger, newest first, read-only."""

    model = ConsentRecord
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    fields = ["created_at", "channel", "purpose", "category", "action", "source", "actor", "reference"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Recipient)
class RecipientAdmin(OrganisationOwnedAdmin):
    form = RecipientForm
    list_display = ["external_id", "email", "phone", "timezone", "locale", "erased_at", "updated_at"]
    search_fields = ["external_id", "email", "phone"]
    list_filter = ["locale", "timezone", ("erased_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["erased_at", "created_at", "updated_at"]
    inlines = [PreferenceInline, ConsentRecordInline]
    actions = ["export_json", "erase_personal_data"]
    fieldsets = [
        (None, {"fields": ["external_id", "email", "phone", "locale", "attributes"]}),
        ("Time", {"fields": ["timezone", ("send_window_start", "send_window_end")]}),
        ("Record", {"fields": ["erased_at", "created_at", "updated_at"]}),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger points here; use "erase personal data" instead

    @admin.action(description="Export everything held (JSON)", permissions=["export"])
    def export_json(self, request, queryset):
        data = [recipient_export_data(r) for r in queryset[:100]]
        response = HttpResponse(json.dumps(data, indent=2, default=str), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="recipients-{timezone.now():%Y%m%d%H%M%S}.json"'
        return response

    @admin.action(description="Erase personal data (keeps the consent ledger)", permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        for recipient in queryset:
            summary = recipient_erase(recipient=recipient, actor=request.user)
            self.message_user(request, f"Erased {recipient}: {summary}", messages.SUCCESS)

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("preferences.export_recipient")

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("preferences.erase_recipient")


@admin.register(Preference)
class PreferenceAdmin(SafeAutocompleteAdmin):
    list_display = ["recipient", "notification_type", "category", "channel", "enabled", "updated_at"]
    list_filter = ["channel", "enabled", "category", "notification_type"]
    search_fields = ["recipient__external_id"]
    list_select_related = ["recipient", "notification_type"]
    autocomplete_fields = ["recipient"]


class ConsentRecordForm(ModelForm):
    class Meta:
        model = ConsentRecord
        fields = ["recipient", "channel", "purpose", "category", "action", "consent_text", "reference"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(SafeAutocompleteAdmin):
    """Read and append. A correction is a new entry; nobody can edit or delete one."""

    form = ConsentRecordForm
    list_display = ["created_at", "recipient", "channel", "purpose", "category", "action", "source", "actor"]
    list_filter = ["action", "channel", "purpose", "source", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["recipient__external_id", "reference", "actor"]
    list_select_related = ["recipient"]
    autocomplete_fields = ["recipient"]
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:  # unreachable through the UI (no change permission); refuse all the same
            raise PermissionError("The consent ledger is append-only.")
        d = form.cleaned_data
        record = consent_record(
            recipient=d["recipient"],
            channel=d["channel"],
            purpose=d["purpose"],
            category=d.get("category") or "",
            action=d["action"],
            evidence=Evidence(
                source=ConsentSource.ADMIN,
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.headers.get("User-Agent", ""),
                consent_text=d.get("consent_text") or "",
                reference=d.get("reference") or "",
                actor=request.user,
            ),
        )
        obj.pk, obj.created_at = record.pk, record.created_at
        obj._state.adding = False


class SuppressionForm(ModelForm):
    class Meta:
        model = Suppression
        fields = ["channel", "address", "reason", "detail", "lift_reason"]

    def clean(self):
        cleaned = super().clean() or {}
        if self.instance.pk is None and cleaned.get("channel") and cleaned.get("address"):
            try:
                cleaned["address"] = normalise_address(cleaned["channel"], cleaned["address"])
            except ValidationError as exc:
                self.add_error("address", exc.messages)
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(OrganisationOwnedAdmin):
    """Add a block, or lift one by giving a reason on its page; the row keeps who did what."""

    form = SuppressionForm
    list_display = ["address", "channel", "reason", "created_at", "created_by", "is_active", "lifted_by"]
    list_filter = ["channel", "reason", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["address", "detail"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["created_at", "created_by"]
        locked = ["channel", "address", "reason", "detail", "source_event", "created_at", "created_by"]
        return [*locked, "lifted_at", "lifted_by", *(["lift_reason"] if obj.lifted_at else [])]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["channel", "address", "reason", "detail"]
        return [
            "channel",
            "address",
            "reason",
            "detail",
            "source_event",
            "created_at",
            "created_by",
            "lift_reason",
            "lifted_at",
            "lifted_by",
        ]

    def get_changeform_initial_data(self, request):
        return {"reason": SuppressionReason.MANUAL}

    @admin.display(boolean=True, description="active")
    def is_active(self, obj) -> bool:
        return obj.is_active

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # lifting keeps the history; deleting would erase it

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_suppression_existed", False):
            self.message_user(
                request,
                f"{obj.address} was already suppressed ({obj.get_reason_display().lower()}, since "
                f"{obj.created_at:%Y-%m-%d %H:%M} UTC by {obj.created_by or 'the system'}); nothing was added.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:preferences_suppression_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def save_model(self, request, obj, form, change):
        if not change:
            row, created = suppression_add(
                channel=obj.channel, address=obj.address, reason=obj.reason, detail=obj.detail, actor=request.user
            )
            obj.pk, obj.created_at, obj.created_by = row.pk, row.created_at, row.created_by
            obj._state.adding = False
            request._suppression_existed = not created  # read by response_add
            return
        if obj.lift_reason and "lift_reason" in form.changed_data:
            suppression_lift(suppression=obj, actor=request.user, reason=obj.lift_reason)
