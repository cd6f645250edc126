from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Cost and analytics"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (cache invalidation)
