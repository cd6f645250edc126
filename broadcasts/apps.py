from django.apps import AppConfig


class BroadcastsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "broadcasts"
    verbose_name = "Topics and broadcasts"

    def ready(self) -> None:
        # Django: rules learn to reach a topic once the models the sender writes are loaded.
        from . import rule_topics  # noqa: F401
