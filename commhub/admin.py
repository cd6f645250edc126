"""Admin building blocks shared by the apps."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import connection


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
