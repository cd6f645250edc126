from django.apps import AppConfig


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Templates"

    def ready(self) -> None:
        # Django: receivers connect when their module is imported, which must wait until the apps are loaded.
        from . import signals  # noqa: F401  (cache invalidation)
