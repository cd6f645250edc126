from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Prices, costs and budgets"

    def ready(self) -> None:
        # Django: receivers connect when their module is imported, which must wait until the apps are loaded.
        from . import signals  # noqa: F401  (cache invalidation)
