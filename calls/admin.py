"""The back office's calls: "my calls today" by default, a day-by-day calendar (date hierarchy), outcome buttons
on a call's page (with a new time for a rescheduled one), click-to-call, the reminders sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone

from commhub.admin import OrganisationOwnedAdmin, SafeAutocompleteAdmin
from commhub.errors import DomainError, InvalidInput

from . import services
from .dial import DialFailed, call_dial
from .models import Call, CallReminder, Outcome


class WhoseCalls(admin.SimpleListFilter):
    title = "whose"
    parameter_name = "whose"

    def lookups(self, request, model_admin):
        return [("today", "My calls today"), ("mine", "All my calls"), ("all", "Everyone's")]

    def choices(self, changelist):
        value = self.value() or "today"  # the default view: what I have to do today
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "today"
        if value == "all":
            return queryset
        mine = queryset.filter(caller=request.user)
        if value == "mine":
            return mine
        start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        return mine.filter(scheduled_at__gte=start, scheduled_at__lt=start + timedelta(days=1))


class ReminderInline(admin.TabularInline):
    model = CallReminder
    fields = ["whom", "minutes_before", "notification", "said", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class CallForm(forms.ModelForm):
    class Meta:
        model = Call
        fields = list(Call.SCHEDULING)

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and not self.errors:
            try:  # the service's checks, as field errors
                services.call_check(
                    caller=data.get("caller"),
                    callee=data.get("callee"),
                    callee_phone=data.get("callee_phone") or "",
                    scheduled_at=data.get("scheduled_at") or timezone.now(),
                    remind_callee=data.get("remind_callee", False),
                )
            except InvalidInput as exc:
                for field, problems in exc.errors.items():
                    self.add_error(field if field in self.fields else None, problems)
        return data


@admin.register(Call)
class CallAdmin(OrganisationOwnedAdmin, SafeAutocompleteAdmin):
    form = CallForm
    change_form_template = "admin/calls/call/change_form.html"
    list_display = ["scheduled_at", "caller", "callee_label", "reason", "state", "outcome", "dial_status"]
    list_filter = [WhoseCalls, "state", "outcome"]
    date_hierarchy = "scheduled_at"
    search_fields = ["reason", "callee__external_id", "callee_name", "callee_phone", "caller__username"]
    list_select_related = ["caller", "callee"]
    autocomplete_fields = ["callee"]
    inlines = [ReminderInline]
    readonly_fields = ["state", "outcome", "outcome_notes", "outcome_at", "outcome_by", "rescheduled_to"]
    actions = ["mark_completed", "mark_no_answer", "mark_voicemail", "mark_cancelled"]

    def get_readonly_fields(self, request, obj=None):
        dial = ["dial_status", "dial_answered_at", "dial_seconds", "missed_alerted_at", "created_by"]
        return [*self.readonly_fields, *dial] if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"caller": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user.get_username()
            if obj.callee_phone:
                obj.callee_phone = services.phone_or_error(obj.callee_phone)
        super().save_model(request, obj, form, change)

    @admin.display(description="callee")
    def callee_label(self, call: Call) -> str:
        return call.callee_label

    # --- outcome buttons and actions ---------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/outcome/", view(self.outcome_view), name="calls_call_outcome"),
            path("<int:pk>/dial/", view(self.dial_view), name="calls_call_dial"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        call = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if call is not None and call.state != Call.State.DONE and self.has_change_permission(request, call):
            extra["outcome_choices"] = Outcome.choices
            extra["can_dial"] = bool(call.phone)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _back(self, pk):
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[pk]))

    def outcome_view(self, request, pk):
        call = self.get_object(request, str(pk))
        if request.method != "POST" or call is None or not self.has_change_permission(request, call):
            raise PermissionDenied
        new_time = None
        if raw := request.POST.get("new_time"):
            try:
                new_time = timezone.make_aware(datetime.fromisoformat(raw))
            except ValueError:
                self.message_user(request, "The new time is not a date and time.", messages.ERROR)
                return self._back(pk)
        try:
            services.call_outcome_record(
                call=call,
                outcome=request.POST.get("outcome", ""),
                notes=request.POST.get("notes", "")[:5000],
                new_time=new_time,
                actor=request.user,
            )
            self.message_user(request, "Outcome recorded.", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return self._back(pk)

    def dial_view(self, request, pk):
        call = self.get_object(request, str(pk))
        if request.method != "POST" or call is None or not self.has_change_permission(request, call):
            raise PermissionDenied
        try:
            call_dial(call=call, user=request.user)
            self.message_user(request, "Calling: your phone rings first.", messages.SUCCESS)
        except (DomainError, DialFailed) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
        return self._back(pk)

    def _mark(self, request, queryset, outcome: str) -> None:
        done = 0
        for call in queryset:
            try:
                services.call_outcome_record(call=call, outcome=outcome, actor=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{call}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} call(s): {Outcome(outcome).label}.", messages.SUCCESS)

    @admin.action(description="Outcome: completed", permissions=["change"])
    def mark_completed(self, request, queryset) -> None:
        self._mark(request, queryset, Outcome.COMPLETED)

    @admin.action(description="Outcome: no answer", permissions=["change"])
    def mark_no_answer(self, request, queryset) -> None:
        self._mark(request, queryset, Outcome.NO_ANSWER)

    @admin.action(description="Outcome: left voicemail", permissions=["change"])
    def mark_voicemail(self, request, queryset) -> None:
        self._mark(request, queryset, Outcome.VOICEMAIL)

    @admin.action(description="Outcome: cancelled", permissions=["change"])
    def mark_cancelled(self, request, queryset) -> None:
        self._mark(request, queryset, Outcome.CANCELLED)
