from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "preferences"
    verbose_name = "Recipients and preferences"

    def ready(self) -> None:
        # Django: receivers connect when their module is imported, which must wait until the apps are loaded.
        from . import signals  # noqa: F401  (the unsubscribe-by-email receiver)
