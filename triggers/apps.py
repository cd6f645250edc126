from django.apps import AppConfig


class TriggersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "triggers"
    verbose_name = "Events and rules"

    def ready(self) -> None:
        # Django: the submit path learns where a digesting type's messages go, and erasure and retention what
        # digests copied, once the window models are loaded.
        from . import privacy, type_digests  # noqa: F401
