from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"
    verbose_name = "Recipients and preferences"

    def ready(self) -> None:
        from . import signals  # noqa: F401 (connects the unsubscribe-by-email receiver)
