from django.apps import AppConfig


class HooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "hooks"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        # Django: the outbox listens to notifications' lifecycle, and privacy steps register, once the models
        # they write are loaded.
        from . import outbox, privacy  # noqa: F401
