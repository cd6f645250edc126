"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only the pipeline writes (notifications, the cost ledger, captured messages): staff read
    them and act through admin actions that call services, never by editing or deleting rows."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget looks the submitted value up to show it again; a value that is not an id
    at all (text where an integer belongs) made that lookup raise, so a typo was a 500. Such a value is left
    out here and the form's own error says what is wrong."""

    def optgroups(self, name, value, attr=None):
        pk = self.field.remote_field.model._meta.pk
        kept = []
        for item in value:
            try:
                pk.to_python(item)
            except ValidationError:
                continue
            kept.append(item)
        return super().optgroups(name, kept, attr)


class SafeAutocompleteAdmin(admin.ModelAdmin):
    """A ModelAdmin whose autocomplete fields use SafeAutocompleteSelect."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
