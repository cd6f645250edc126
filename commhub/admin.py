"""Admin building blocks shared by the apps."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import connection

from commhub import tenancy


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only the pipeline writes (notifications, the cost ledger, captured messages): staff read
    them and act through admin actions that call services, never by editing or deleting rows."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _storable_id(field, value) -> bool:
    """Whether `value` can be an id of `field` in this database: it converts, and an integer fits the column
    (SQLite raises OverflowError on an `IN` lookup of a larger one instead of finding nothing)."""
    try:
        converted = field.to_python(value)
    except ValidationError:
        return False
    if isinstance(converted, int):
        low, high = connection.ops.integer_field_range("BigIntegerField")
        return low <= converted <= high
    return True


class SafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django's, refusing ids the database could not even look up (a 500 on SQLite) as invalid choices."""

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        model = self.queryset.model  # type: ignore[union-attr]  # a form field always has its queryset here
        field = model._meta.pk if key == "pk" else model._meta.get_field(key)
        for item in value if isinstance(value, list | tuple) else [value]:
            if not _storable_id(field, item):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": item}
                )
        return super()._check_values(value)  # type: ignore[misc]  # private in Django, absent from its stubs


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget looks the submitted value up to show it again; a value that is not an id
    at all (text where an integer belongs) made that lookup raise, so a typo was a 500. Such a value is left
    out here and the form's own error says what is wrong."""

    def optgroups(self, name, value, attr=None):
        pk = self.field.remote_field.model._meta.pk
        return super().optgroups(name, [item for item in value if _storable_id(pk, item)], attr)


class SafeRelationsMixin:
    """For any ModelAdmin (commhub's or a library's): many-to-many fields refuse ids the database cannot look
    up, autocomplete fields use SafeAutocompleteSelect."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", SafeModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):  # type: ignore[attr-defined]
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))  # type: ignore[attr-defined]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class SafeAutocompleteAdmin(SafeRelationsMixin, admin.ModelAdmin):
    """A ModelAdmin whose relation fields are SafeRelationsMixin's."""


class _OperatorWrites:
    """Adding, changing and deleting only for the operator's staff (tenancy.acting_as_operator), on top of the
    permissions the admin class already checks (a ModelAdmin's or an inline's: their signatures differ only in
    the optional `obj`)."""

    def has_add_permission(self, request, *args) -> bool:
        return tenancy.acting_as_operator() and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request, obj=None) -> bool:
        return tenancy.acting_as_operator() and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request, obj=None) -> bool:
        return tenancy.acting_as_operator() and super().has_delete_permission(request, obj)  # type: ignore[misc]


class SharedCatalogueAdmin(_OperatorWrites, admin.ModelAdmin):
    """What every organisation shares: everyone with the view permission reads it; only the operator's staff
    add, change or delete it, so one organisation cannot change another's messages."""


class SharedCatalogueInline(_OperatorWrites, admin.options.InlineModelAdmin):
    """An inline of the shared catalogue (a type's channels): the same rule."""


def _with_organisation(related: Any) -> Any:
    """`list_select_related` plus the organisation (read for the "whose" or "organisation" column): Django joins
    nothing it is not told to once the list is explicit, and a column would read it row by row."""
    return [*related, "organisation"] if isinstance(related, list | tuple) else related


class SharedOrOwnAdmin(admin.ModelAdmin):
    """A table of shared defaults and organisations' own overrides (templates, prices): everyone reads the shared
    rows and their own; only the operator's staff change a shared row; a new row is the shared default when the
    operator's staff add it, else the organisation's own (tenancy.owner_of_new_shared_or_own)."""

    list_select_related = ["organisation"]  # the "whose" column (a subclass naming its own list includes it)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.organisation_id is None and not tenancy.acting_as_operator():
            return False  # shared by every organisation: read it, override it with your own
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.organisation_id is None and not tenancy.acting_as_operator():
            return False
        return super().has_delete_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form

        class Owned(form):  # type: ignore[valid-type,misc]  # a ModelForm class made at run time
            """The new row's owner is set before validation: its uniqueness and overlap checks are its owner's."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.instance.organisation_id = tenancy.owner_of_new_shared_or_own()

        return Owned

    @admin.display(description="whose")
    def owner(self, obj) -> str:
        return "shared" if obj.organisation_id is None else str(obj.organisation)


class OrganisationOwnedAdmin(admin.ModelAdmin):
    """For a model with an `organisation`: its manager already shows a user their organisation's rows only, and a
    new row is the acting organisation's (forms do not offer the field: nobody moves a row to another
    organisation). A superuser, who sees every organisation, gets the column and a filter."""

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        return [*columns, "organisation"] if request.user.is_superuser else columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "organisation"] if request.user.is_superuser else filters

    def get_list_select_related(self, request):
        related = super().get_list_select_related(request)
        return _with_organisation(related) if request.user.is_superuser else related


class OperatorOnlyAdmin(admin.ModelAdmin):
    """What every organisation shares and no organisation owns (roles, the shape of schedules): the operator's
    staff only (tenancy.acting_as_operator). Another organisation's staff do not see the section."""

    def allowed(self, request) -> bool:
        return tenancy.acting_as_operator()

    def has_module_permission(self, request) -> bool:
        return self.allowed(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.allowed(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return self.allowed(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.allowed(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.allowed(request) and super().has_delete_permission(request, obj)


class SuperuserOnlyAdmin(OperatorOnlyAdmin):
    """Rows that name every organisation's people or schedules (beat's tasks, login attempts, issued tokens):
    superusers only, who see every organisation anyway."""

    def allowed(self, request) -> bool:
        return request.user.is_superuser


def restrict(site: admin.AdminSite, mixin: type[OperatorOnlyAdmin], *models: type) -> None:
    """Re-register each model's ModelAdmin (a library's) as `mixin` + the class it had."""
    for model in models:
        current = type(site._registry[model])
        site.unregister(model)
        site.register(model, type(f"{mixin.__name__[:-5]}{current.__name__}", (mixin, current), {}))
