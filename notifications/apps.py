from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Django: receivers (and privacy-request steps) register when their module is imported, which must
        # wait until the apps are loaded.
        from . import privacy, signals  # noqa: F401
