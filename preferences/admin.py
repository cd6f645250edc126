from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm

from .models import Recipient
from .services import recipient_fields_clean


class RecipientForm(ModelForm):
    class Meta:
        model = Recipient
        fields = ["external_id", "email", "phone", "timezone", "locale", "attributes"]

    def clean(self):
        cleaned = super().clean()
        fields = {k: cleaned[k] for k in ("email", "phone", "timezone", "locale", "attributes") if k in cleaned}
        try:
            cleaned.update(recipient_fields_clean(fields))  # same rules as the API (E.164, IANA zone, ...)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field, messages)
        return cleaned


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    form = RecipientForm
    list_display = ["external_id", "email", "phone", "timezone", "locale", "updated_at"]
    search_fields = ["external_id", "email", "phone"]
    list_filter = ["locale", "timezone"]
    readonly_fields = ["created_at", "updated_at"]
