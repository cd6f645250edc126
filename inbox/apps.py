from django.apps import AppConfig


class InboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inbox"
    verbose_name = "In-app inbox"

    def ready(self) -> None:
        # Django: privacy-request steps register when their module is imported, after the apps are loaded.
        from . import privacy  # noqa: F401
