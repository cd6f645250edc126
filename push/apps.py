from django.apps import AppConfig


class PushConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "push"
    verbose_name = "Push"

    def ready(self) -> None:
        # Django: privacy-request steps register when their module is imported, after the apps are loaded.
        from . import privacy  # noqa: F401
