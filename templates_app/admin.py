"""The template back office: slots per type x channel x locale, their versions (drafts editable, published
frozen), a live preview with sample data or a real recipient, publish / roll back. Layouts and partials are
edited here too. (The test send to the staff member themself needs a provider: notifications/admin.py adds
it to this admin.)"""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import ModelForm
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from commhub import tenancy
from commhub.admin import SharedCatalogueAdmin, SharedOrOwnAdmin
from commhub.errors import DomainError

from . import services
from .models import Layout, Partial, Template, TemplateVersion
from .variables import version_problems


@admin.register(Layout)
class LayoutAdmin(SharedCatalogueAdmin):
    list_display = ["name", "channel", "is_default", "updated_at"]
    list_filter = ["channel", "is_default"]


@admin.register(Partial)
class PartialAdmin(SharedCatalogueAdmin):
    list_display = ["name", "updated_at"]
    search_fields = ["name", "source"]


def _preview_errors(exc: ValidationError) -> dict:
    """A preview's refusal as the admin form's JSON errors, by field (`data` when it names none)."""
    by_field = exc.message_dict if hasattr(exc, "error_dict") else {"data": exc.messages}
    return {name: [{"message": m} for m in messages] for name, messages in by_field.items()}


def _state_label(version: TemplateVersion) -> str:
    if not version.is_frozen:
        return "draft"
    return "live" if version.template.published_version_id == version.pk else "published (not live)"


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    can_delete = False
    fields = ["version_link", "state", "note", "created_by", "created_at", "published_by", "published_at"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="state")
    def state(self, obj: TemplateVersion) -> str:
        return _state_label(obj)

    @admin.display(description="version")
    def version_link(self, obj: TemplateVersion) -> str:
        url = reverse("admin:templates_app_templateversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)


@admin.register(Template)
class TemplateAdmin(SharedOrOwnAdmin):
    list_display = ["notification_type", "channel", "locale", "owner", "live_version", "is_active", "updated_at"]
    list_filter = ["channel", "locale", "is_active", "notification_type"]
    search_fields = ["notification_type__key", "locale"]
    list_select_related = ["notification_type", "published_version", "organisation"]
    fields = ["notification_type", "channel", "locale", "organisation", "is_active", "published_version", "new_version"]
    readonly_fields = ["organisation", "published_version", "new_version"]
    inlines = [VersionInline]

    @admin.display(description="live version")
    def live_version(self, obj: Template) -> str:
        return f"v{obj.published_version.number}" if obj.published_version is not None else "— (nothing published)"

    @admin.display(description="")
    def new_version(self, obj: Template) -> str:
        if not obj.pk:
            return "Save first, then add versions."
        url = reverse("admin:templates_app_templateversion_add") + f"?template={obj.pk}"
        return format_html('<a class="button" href="{}">New draft version</a>', url)


class VersionForm(ModelForm):
    class Meta:
        model = TemplateVersion
        fields = ["template", *services.EDITABLE_FIELDS]

    def clean(self):
        cleaned = super().clean() or {}
        template = cleaned.get("template") or getattr(self.instance, "template", None)
        if template is None or self.errors:
            return cleaned
        draft = TemplateVersion(template=template, **{k: v for k, v in cleaned.items() if k != "template"})
        for field, problems in version_problems(draft, channel=template.channel).items():
            self.add_error(field if field in self.fields else None, problems)
        return cleaned


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    form = VersionForm
    change_form_template = "admin/templates_app/templateversion/change_form.html"
    list_display = ["template", "number", "state", "note", "created_by", "created_at", "published_at"]
    list_filter = ["status", "template__channel", "template__locale", "template__notification_type"]
    search_fields = ["template__notification_type__key", "subject", "text", "html", "note"]
    list_select_related = ["template__notification_type"]
    actions = ["publish_selected"]

    @admin.display(description="state", ordering="status")
    def state(self, obj: TemplateVersion) -> str:
        return _state_label(obj)

    def get_readonly_fields(self, request, obj=None):
        meta = ["number", "status", "created_by", "created_at", "published_by", "published_at"]
        if obj is None:
            return meta
        return [*meta, "template"]

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.is_frozen or not services.template_writable(obj.template)):
            return False  # a published version is frozen: view it, preview it, copy it; never edit it
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.is_frozen or not services.template_writable(obj.template)):
            return False
        return super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if (
            db_field.name == "template"
            and field is not None
            and field.queryset is not None
            and not tenancy.acting_as_operator()
        ):
            # a draft goes on the organisation's own templates only (shared ones are read, not written)
            field.queryset = field.queryset.filter(organisation__isnull=False)
        return field

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        source = request.GET.get("copy")
        if source and (original := TemplateVersion.objects.filter(pk=source).first()) is not None:
            for field in (f for f in services.EDITABLE_FIELDS if f != "note"):
                initial[field] = getattr(original, field if field != "layout" else "layout_id")
            initial["template"] = str(original.template_id)
            initial["note"] = f"copy of v{original.number}"
        return initial

    def save_model(self, request, obj, form, change):
        fields = {k: v for k, v in form.cleaned_data.items() if k != "template"}
        if change:
            saved = services.version_update(version=obj, actor=request.user, **fields)
        else:
            saved = services.version_create(template=form.cleaned_data["template"], actor=request.user, **fields)
        obj.pk, obj.number, obj._state.adding = saved.pk, saved.number, False
        if "_publish_after_save" in request.POST and self._can_publish(request):
            # "Save and publish" (the page asked first): what was on screen is what goes live
            services.version_publish(version=saved, actor=request.user)
            self.message_user(request, f"v{saved.number} of {saved.template} is live.", messages.SUCCESS)

    def response_change(self, request, obj):
        if "_publish_after_save" in request.POST:
            return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        if "_publish_after_save" in request.POST:
            return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/publish/", view(self.publish_view), name="templateversion_publish"),
            path("preview-draft/", view(self.preview_draft_view), name="templateversion_preview_draft"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if version is not None:
            extra.update(self._preview_context(request, version))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def preview_draft_view(self, request):
        """POST the version form as it is on screen: its preview as JSON (nothing is saved)."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        version_id = request.POST.get("version_id", "")
        original = TemplateVersion.objects.filter(pk=version_id).first() if version_id.isdigit() else None
        form = VersionForm(request.POST, instance=TemplateVersion(template=original.template) if original else None)
        if original is not None:
            form.fields["template"].required = False
        if not form.is_valid():
            return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
        data = form.cleaned_data
        template = data.get("template") or (original.template if original else None)
        draft = TemplateVersion(template=template, **{k: v for k, v in data.items() if k != "template"})
        try:
            recipient = services.preview_recipient_for(
                user=request.user, external_id=request.POST.get("preview_recipient") or ""
            )
            preview = services.template_preview(version=draft, recipient=recipient)
        except ValidationError as exc:
            return JsonResponse({"errors": _preview_errors(exc)}, status=400)
        return JsonResponse(asdict(preview))

    def _preview_context(self, request, version: TemplateVersion) -> dict:
        external_id = (request.GET.get("preview_recipient") or "").strip()
        try:
            recipient = services.preview_recipient_for(user=request.user, external_id=external_id)
            refusal = ""
        except ValidationError as exc:
            recipient, refusal = None, "; ".join(exc.messages)
        context = {
            "preview_recipient": external_id,
            "can_publish": self._can_publish(request),
            "is_live": version.template.published_version_id == version.pk,
            "state_label": _state_label(version),
        }
        if refusal:
            context["preview_error"] = f"{refusal} Showing the sample recipient instead."
        try:
            context["preview"] = services.template_preview(version=version, recipient=recipient)
        except ValidationError as exc:
            context["preview_error"] = "; ".join(exc.messages)
        return context

    def _can_publish(self, request) -> bool:
        return request.user.has_perm("templates_app.publish_template")

    def publish_view(self, request, pk: int):
        if request.method != "POST" or not self._can_publish(request):
            raise PermissionDenied
        version = get_object_or_404(TemplateVersion, pk=pk)
        try:
            services.version_publish(version=version, actor=request.user)
            self.message_user(request, f"v{version.number} of {version.template} is live.", messages.SUCCESS)
        except (ValidationError, DomainError) as exc:
            self.message_user(request, f"Not published: {exc}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:templates_app_templateversion_change", args=[pk]))

    @admin.action(description="Publish (or roll back to) the selected version", permissions=["publish"])
    def publish_selected(self, request, queryset):
        for version in queryset.select_related("template"):
            try:
                services.version_publish(version=version, actor=request.user)
                self.message_user(request, f"v{version.number} of {version.template} is live.", messages.SUCCESS)
            except (ValidationError, DomainError) as exc:
                self.message_user(request, f"v{version.number} of {version.template}: {exc}", messages.ERROR)

    def has_publish_permission(self, request) -> bool:
        return self._can_publish(request)
