"""The back office: notification types, notifications (with their full story), captured messages, recurring
sends; and the test send on a template version's page (it needs a provider, so it is added here)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from commhub import tenancy
from commhub.admin import (
    OperatorOnlyAdmin,
    OrganisationOwnedAdmin,
    ReadOnlyAdmin,
    SafeRelationsMixin,
    SharedCatalogueAdmin,
    SharedCatalogueInline,
    SuperuserOnlyAdmin,
    restrict,
)
from commhub.errors import DomainError
from orgs.admin import MembershipInline
from orgs.models import Organisation
from orgs.services import membership_set
from templates_app import admin as templates_admin
from templates_app.models import TemplateVersion

from . import services
from .constants import CANCELLABLE_STATUSES, Status
from .models import (
    CapturedMessage,
    DeliveryAttempt,
    Notification,
    NotificationType,
    ProviderEvent,
    RecurringRun,
    RecurringSend,
    TypeChannel,
    TypeOverride,
)
from .recurring import (
    recurring_audience_size,
    recurring_delete,
    recurring_next_runs,
    recurring_run,
    recurring_save,
    recurring_validate,
)
from .test_sends import template_test_send


class TypeChannelFormSet(forms.BaseInlineFormSet):
    """The type's default and fallback channels must be among its channels (saved after the type itself)."""

    def clean(self) -> None:
        super().clean()
        kept = {
            form.cleaned_data.get("channel")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        ntype = self.instance
        for field in ("default_channel", "fallback_channel"):
            channel = getattr(ntype, field)
            if channel and channel not in kept:
                raise ValidationError(f"Add {channel} below: it is the type's {field.replace('_', ' ')}.")


class TypeChannelInline(SharedCatalogueInline, admin.TabularInline):
    model = TypeChannel
    formset = TypeChannelFormSet
    extra = 0
    fields = ["channel", "rate_limit_per_minute", "global_rate_limit_per_minute"]


@admin.register(NotificationType)
class NotificationTypeAdmin(SharedCatalogueAdmin):
    list_display = [
        "key",
        "name",
        "priority",
        "default_channel",
        "fallback_channel",
        "tier",
        "purpose",
        "category",
        "channel_list",
        "max_retries",
        "retry_base_delay",
        "is_active",
    ]
    list_editable = ["is_active"]
    list_filter = ["tier", "purpose", "category", "preference_policy", "default_channel", "is_active"]
    search_fields = ["key", "name", "description"]
    fieldsets = [
        (None, {"fields": ["key", "name", "description", "is_active"]}),
        ("Routing", {"fields": ["priority", "tier", "default_channel", "fallback_channel", "purpose"]}),
        (
            "Retries, expiry and retention",
            {"fields": ["max_retries", "retry_base_delay", "ttl_seconds", "retention_days"]},
        ),
        (
            "Preferences and compliance",
            {
                "fields": [
                    "category",
                    "preference_policy",
                    "respects_quiet_hours",
                    ("frequency_cap_count", "frequency_cap_window_hours", "frequency_cap_action"),
                ]
            },
        ),
        (
            "Digest",
            {
                "fields": [
                    ("digest", "digest_type"),
                    ("digest_minutes", "digest_weekday", "digest_time"),
                    ("digest_key", "digest_max_items"),
                ],
                "description": "Instead of a message each, a recipient's messages of this type gather in a window "
                "and go as one digest. Only types that do not digest themselves can carry a digest.",
            },
        ),
    ]
    inlines = [TypeChannelInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("type_channels")

    @admin.display(description="channels (per minute)")
    def channel_list(self, obj: NotificationType) -> str:
        return ", ".join(str(rule) for rule in obj.type_channels.all()) or "-"


@admin.register(TypeOverride)
class TypeOverrideAdmin(OrganisationOwnedAdmin):
    """An organisation's own settings for a shared type (off for it, another priority, channel, retries or time
    to live); the type itself is the shared catalogue's."""

    list_display = ["notification_type", "is_active", "priority", "default_channel", "max_retries", "ttl_seconds"]
    list_select_related = ["notification_type"]
    fields = ["notification_type", "is_active", "priority", "default_channel", "max_retries", "ttl_seconds"]
    search_fields = ["notification_type__key"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = DeliveryAttempt.PUBLIC_FIELDS
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ProviderEventInline(admin.TabularInline):
    """What the provider reported after accepting the message (delivered, bounced, opened, ...)."""

    model = ProviderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "provider", "event_type", "description", "event_id"]
    readonly_fields = fields
    ordering = ["created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _run_service(modeladmin, request, queryset, service, verb: str) -> None:
    done, refused = 0, []
    for notification in queryset:
        try:
            service(notification_id=notification.pk, actor=request.user)
            done += 1
        except DomainError as exc:
            refused.append(f"{notification.pk}: {exc.message}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} notification(s).", messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.register(Notification)
class NotificationAdmin(OrganisationOwnedAdmin, ReadOnlyAdmin):
    """Read-only: notifications are submitted through the API and move only through services (the actions
    below); deleting one would erase its audit trail and cost."""

    list_display = [
        "short_id",
        "recipient",
        "notification_type",
        "channel",
        "colored_status",
        "priority",
        "attempts",
        "cost_display",
        "created_at",
        "sent_at",
    ]
    change_form_template = "admin/notifications/notification/change_form.html"
    list_filter = [
        "status",
        "channel",
        "notification_type",
        "queue",
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "id",
        "recipient__external_id",
        "recipient__email",
        "recipient__phone",
        "to_address",
        "provider_message_id",
    ]
    list_select_related = ["recipient", "notification_type"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [DeliveryAttemptInline, ProviderEventInline]
    actions = ["retry_selected", "cancel_selected"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page view is not free
    fieldsets = [
        (
            None,
            {"fields": ["id", "status", "recipient", "notification_type", "channel", "priority", "queue"]},
        ),
        ("Why (decision trace)", {"fields": ["trace_display"]}),
        (
            "Content",
            {
                "fields": [
                    "data",
                    "template",
                    "to_address",
                    "rendered_subject",
                    "rendered_body",
                    "html_preview",
                ]
            },
        ),
        (
            "Delivery",
            {
                "fields": [
                    "send_at",
                    "attempts",
                    "max_attempts",
                    "claims",
                    "lease_expires_at",
                    "provider",
                    "provider_message_id",
                    "last_error",
                    "error_code",
                    "segments",
                    "cost",
                    "currency",
                ]
            },
        ),
        ("Fallback", {"fields": ["fallback_of", "fallback_links"]}),
        (
            "Timeline",
            {
                "fields": [
                    "submitted_by",
                    "created_at",
                    "updated_at",
                    "sent_at",
                    "delivered_at",
                    "failed_at",
                    "cancelled_at",
                ]
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"] if isinstance(field, str)]

    @admin.display(description="id")
    def short_id(self, obj: Notification) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="status", ordering="status")
    def colored_status(self, obj: Notification) -> str:
        color: str = {
            Status.SENT: "#2e7d32",
            Status.DELIVERED: "#1b5e20",
            Status.FAILED: "#c62828",
            Status.SUPPRESSED: "#6d4c41",
            Status.CANCELLED: "#757575",
            Status.EXPIRED: "#757575",
            Status.DIGESTED: "#6a1b9a",
            Status.PENDING: "#ef6c00",
        }.get(Status(obj.status), "#1565c0")
        return format_html('<strong style="color:{}">{}</strong>', color, obj.get_status_display())

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj: Notification) -> str:
        """What it cost once sent; an estimate while it waits; nothing for a message no provider ever took."""
        if obj.cost is None:
            return "-"
        if obj.sent_at is not None:
            return f"{obj.cost:.4f} {obj.currency}"
        if obj.status in (Status.SCHEDULED, Status.QUEUED, Status.PENDING, Status.SENDING, Status.UNKNOWN):
            return f"~{obj.cost:.4f} {obj.currency} (estimate)"
        return "- (never sent)"

    @admin.display(description="decision trace")
    def trace_display(self, obj: Notification) -> str:
        if not obj.decision_trace:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((step.get("check"), step.get("outcome"), step.get("reason")) for step in obj.decision_trace),
        )
        return format_html("<table><tr><th>check</th><th>outcome</th><th>reason</th></tr>{}</table>", rows)

    @admin.display(description="HTML (sandboxed preview)")
    def html_preview(self, obj: Notification) -> str:
        if not obj.rendered_html:
            return "-"
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:320px;border:1px solid #ccc"></iframe>',
            obj.rendered_html,
        )

    @admin.display(description="fallbacks")
    def fallback_links(self, obj: Notification) -> str:
        links = [(f.pk, f.channel, f.status) for f in obj.fallbacks.all()]
        return format_html_join(", ", '<a href="../../{}/change/">{} ({})</a>', links) if links else "-"

    @admin.action(description="Retry selected failed notifications", permissions=["retry"])
    def retry_selected(self, request, queryset):
        _run_service(self, request, queryset, services.notification_retry, "Requeued")

    @admin.action(description="Cancel selected notifications (not yet sent)", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        _run_service(self, request, queryset, services.notification_cancel, "Cancelled")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notifications.retry_notification")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("notifications.cancel_notification")

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<uuid:pk>/retry/", view(self.retry_view), name="notifications_notification_retry"),
            path("<uuid:pk>/cancel/", view(self.cancel_view), name="notifications_notification_cancel"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        notification = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if notification is not None:
            extra["can_retry"] = notification.status == Status.FAILED and self.has_retry_permission(request)
            extra["can_cancel"] = notification.status in CANCELLABLE_STATUSES and self.has_cancel_permission(request)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _act_on_one(self, request, pk, service, allowed: bool, verb: str):
        if request.method != "POST" or not allowed:
            raise PermissionDenied
        try:
            service(notification_id=pk, actor=request.user)
            self.message_user(request, f"{verb}.", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:notifications_notification_change", args=[pk]))

    def retry_view(self, request, pk):
        allowed = self.has_retry_permission(request)
        return self._act_on_one(request, pk, services.notification_retry, allowed, "Requeued: it will be sent again")

    def cancel_view(self, request, pk):
        allowed = self.has_cancel_permission(request)
        return self._act_on_one(request, pk, services.notification_cancel, allowed, "Cancelled: it will not be sent")


@admin.register(CapturedMessage)
class CapturedMessageAdmin(ReadOnlyAdmin):
    """What the embedded mode would have sent (EMAIL_PROVIDER / SMS_PROVIDER = capture)."""

    list_display = ["created_at", "channel", "to", "subject_or_text", "notification_link"]
    list_filter = ["channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["to", "subject", "body", "message_id", "notification__id"]
    readonly_fields = [
        "created_at",
        "channel",
        "to",
        "from_address",
        "subject",
        "body",
        "html_preview",
        "headers",
        "message_id",
        "notification_link",
    ]
    fields = readonly_fields
    ordering = ["-created_at"]

    @admin.display(description="subject / text")
    def subject_or_text(self, obj: CapturedMessage) -> str:
        return obj.subject or obj.body[:80]

    @admin.display(description="notification")
    def notification_link(self, obj: CapturedMessage) -> str:
        if not obj.notification_id:
            return "-"
        return format_html(
            '<a href="/admin/notifications/notification/{}/change/">{}</a>',
            obj.notification_id,
            str(obj.notification_id)[:8],
        )

    @admin.display(description="HTML (sandboxed preview)")
    def html_preview(self, obj: CapturedMessage) -> str:
        if not obj.html:
            return "-"
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:360px;border:1px solid #ccc"></iframe>',
            obj.html,
        )


class RecurringRunInline(admin.TabularInline):
    model = RecurringRun
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["slot", "started_at", "finished_at", "created", "refused", "errors", "late", "missed", "detail"]
    readonly_fields = fields
    ordering = ["-slot"]


class RecurringSendForm(forms.ModelForm):
    """The model's own checks, then the service's (crontab syntax, zones, audience, the type's channel)."""

    class Meta:
        model = RecurringSend
        fields = [
            "name",
            "notification_type",
            "channel",
            "data",
            "enabled",
            "audience",
            "attribute_filter",
            "recipient_ids",
            "minute",
            "hour",
            "day_of_week",
            "day_of_month",
            "month_of_year",
            "timezone",
            "local_time",
            "every_seconds",
        ]

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # ModelForm's hook after the instance is built (django-stubs omits it)
        if self.instance.notification_type_id and not self.errors:
            try:
                recurring_validate(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)  # type: ignore[attr-defined]  # the same hook model validation uses


@admin.register(RecurringSend)
class RecurringSendAdmin(OrganisationOwnedAdmin):
    """Saving creates or updates the linked beat schedule; disabling pauses it; deleting removes it."""

    form = RecurringSendForm

    list_display = [
        "name",
        "notification_type",
        "audience",
        "audience_size",
        "schedule_text",
        "next_run",
        "enabled",
        "last_run",
        "beat_task",
    ]
    readonly_fields = ["audience_size", "next_runs"]
    list_filter = ["enabled", "notification_type", "local_time"]
    search_fields = ["name"]
    actions = ["run_now", "pause", "resume"]
    inlines = [RecurringRunInline]
    fieldsets = [
        (None, {"fields": ["name", "notification_type", "channel", "data", "enabled"]}),
        ("Audience", {"fields": ["audience", "attribute_filter", "recipient_ids", "audience_size"]}),
        (
            "When",
            {
                "fields": [
                    ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"),
                    "timezone",
                    "local_time",
                    "every_seconds",
                    "next_runs",
                ],
                "description": "A crontab (minute hour day-of-month month day-of-week), in the timezone below "
                "or, with local time, at that hour and minute in each recipient's own timezone.",
            },
        ),
    ]

    @admin.display(description="audience now")
    def audience_size(self, recurring: RecurringSend) -> str:
        if recurring.pk is None:
            return "Shown once saved."
        return f"{recurring_audience_size(recurring)} recipients"

    @admin.display(description="next run")
    def next_run(self, recurring: RecurringSend) -> str:
        if not recurring.enabled:
            return "paused"
        runs = recurring_next_runs(recurring, count=1)
        return f"{runs[0]:%Y-%m-%d %H:%M} UTC" if runs else "never"

    @admin.display(description="next runs")
    def next_runs(self, recurring: RecurringSend) -> str:
        if recurring.pk is None:
            return "Shown once saved."
        if not recurring.enabled:
            return "Paused: it does not run until resumed."
        runs = recurring_next_runs(recurring, count=3)
        if not runs:
            return "Never (no date matches the schedule)."
        try:
            zone = ZoneInfo(recurring.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            return "Never (unknown timezone)."
        shown = ", ".join(f"{r.astimezone(zone):%a %Y-%m-%d %H:%M} {recurring.timezone}" for r in runs)
        if recurring.local_time:
            return f"{shown}; each recipient at that time in their own timezone"
        return shown

    @admin.display(description="last run")
    def last_run(self, recurring: RecurringSend) -> str:
        run = recurring.runs.order_by("-slot").first()
        return f"{run.slot:%Y-%m-%d %H:%M} UTC: {run.created} created" if run else "never"

    @admin.display(description="beat schedule")
    def beat_task(self, recurring: RecurringSend) -> str:
        task = recurring.periodic_task
        if task is None:
            return "-"
        return format_html('<a href="/admin/django_celery_beat/periodictask/{}/change/">{}</a>', task.pk, task.name)

    def save_model(self, request, obj, form, change) -> None:
        recurring_save(obj)

    def delete_model(self, request, obj) -> None:
        recurring_delete(obj)

    def delete_queryset(self, request, queryset) -> None:
        for recurring in queryset:
            recurring_delete(recurring)

    @admin.action(description="Run now (once, for the current slot)")
    def run_now(self, request, queryset) -> None:
        for recurring in queryset:
            run = recurring_run(recurring.pk)
            if run is None:
                self.message_user(
                    request, f"{recurring}: not run (disabled, or this slot already ran)", messages.WARNING
                )
            else:
                level = messages.SUCCESS if run.created and not run.errors else messages.WARNING
                detail = f" {run.detail}" if run.detail else ""
                self.message_user(
                    request,
                    f"{recurring}: {run.created} created, {run.refused} refused, {run.errors} invalid.{detail}",
                    level,
                )

    @admin.action(description="Pause (disable the beat schedule)")
    def pause(self, request, queryset) -> None:
        for recurring in queryset:
            recurring.enabled = False
            recurring_save(recurring)

    @admin.action(description="Resume")
    def resume(self, request, queryset) -> None:
        for recurring in queryset:
            recurring.enabled = True
            recurring_save(recurring)


admin.site.unregister(TemplateVersion)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(templates_admin.TemplateVersionAdmin):
    """The template version page with "Send a test to myself" (through the channel's configured provider)."""

    def get_urls(self):
        own = [
            path("<int:pk>/test-send/", self.admin_site.admin_view(self.test_send_view), name="templateversion_test")
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "test_send_url": reverse("admin:templateversion_test", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def test_send_view(self, request, pk: int):
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(TemplateVersion, pk=pk)
        try:
            message_id = template_test_send(version=version, user=request.user)
            self.message_user(request, f"Test sent to you (provider id {message_id}).", messages.SUCCESS)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[pk]))


# --- django-celery-beat's periodic tasks ---------------------------------------------------------------


class PeriodicTaskForm(beat_admin.PeriodicTaskForm):
    """django-celery-beat's form, whose clean() reads `task` even when that field failed its own validation
    (too long, a NUL character): a KeyError, so a 500 for a typo; and whose registered-task field takes any
    value, NUL included (a database error on save). Here both are form errors."""

    def clean_regtask(self):
        value = self.cleaned_data.get("regtask") or ""
        if "\x00" in value or len(value) > 200:
            raise forms.ValidationError("Not a task name.")
        return value

    def clean(self):
        if "task" not in self.cleaned_data and "task" in self.errors:
            self.cleaned_data["task"] = ""
            try:
                return super().clean()
            except forms.ValidationError:
                raise forms.ValidationError("Name a task: the custom task name above is not valid.") from None
        return super().clean()


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    form = PeriodicTaskForm


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)


class CrontabScheduleAdmin(beat_admin.CrontabScheduleAdmin):
    """django-celery-beat's, whose read-only description of the schedule raised (a 500) while the form showed
    a value just refused, e.g. a negative day of the week."""

    list_display = ("__str__", "in_words")
    fields = ("in_words", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("in_words",)

    @admin.display(description="schedule")
    def in_words(self, obj: CrontabSchedule) -> str:
        try:
            return obj.human_readable
        except Exception:  # any parse error of a value the form is about to refuse
            return "(not a valid schedule yet)"


admin.site.unregister(CrontabSchedule)
admin.site.register(CrontabSchedule, CrontabScheduleAdmin)


# --- Django's users and groups ----------------------------------------------------------------------------


class GroupAdmin(SafeRelationsMixin, auth_admin.GroupAdmin):
    """Django's, with relation fields that refuse ids the database cannot look up (see commhub.admin)."""


class UserAdmin(SafeRelationsMixin, auth_admin.UserAdmin):
    """Django's, with relation fields that refuse ids the database cannot look up (see commhub.admin), the
    organisation a user belongs to, and (for anyone but a superuser) only the users of their own organisation,
    who cannot make anyone a superuser (one would see every organisation); a user they add joins their own."""

    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, "is_superuser"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        organisation = tenancy.current_organisation_id()
        if not change and organisation is not None and organisation != tenancy.DEFAULT_ORGANISATION_ID:
            membership_set(user=obj, organisation=Organisation.objects.get(pk=organisation))

    def get_queryset(self, request):
        users = super().get_queryset(request)
        org = tenancy.current_organisation_id()
        if org is None:
            return users if tenancy.current() is tenancy.EVERYTHING else users.none()
        mine = Q(membership__organisation_id=org)
        if org == tenancy.DEFAULT_ORGANISATION_ID:
            mine |= Q(membership__isnull=True)
        return users.filter(mine).filter(is_superuser=False)


admin.site.unregister(Group)
admin.site.register(Group, GroupAdmin)
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)


# --- what no organisation owns ------------------------------------------------------------------------------
# Roles (groups) and schedule shapes are shared: the operator's staff change them. Beat's tasks name every
# organisation's recurring sends, login attempts and issued tokens every organisation's users: superusers only
# (an organisation's staff manage their schedules as recurring sends, their people as users).
restrict(admin.site, OperatorOnlyAdmin, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule, Group)
restrict(
    admin.site,
    SuperuserOnlyAdmin,
    PeriodicTask,
    AccessAttempt,
    AccessLog,
    AccessFailureLog,
    OutstandingToken,
    BlacklistedToken,
)
