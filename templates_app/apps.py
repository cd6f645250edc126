from django.apps import AppConfig


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Templates"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (cache invalidation)
