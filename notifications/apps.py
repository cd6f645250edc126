from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (cache invalidation, periodic tasks after migrate)
