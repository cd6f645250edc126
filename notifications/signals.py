from anymail.signals import tracking
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from commhub.snapshot import invalidate_all

from .models import NotificationType
from .selectors import notification_types


@receiver([post_save, post_delete], sender=NotificationType)
def _type_changed(**kwargs) -> None:
    notification_types.invalidate()


@receiver(post_migrate)
def _after_migrate(sender, **kwargs) -> None:
    # `flush` emits post_migrate too: the snapshots may describe rows that no longer exist.
    invalidate_all()
    if sender.name == "notifications":
        from .schedules import periodic_tasks_install

        periodic_tasks_install()


@receiver(tracking, dispatch_uid="commhub-anymail-tracking")
def _anymail_tracking(sender, event, esp_name, **kwargs) -> None:
    from .webhooks import anymail_tracking_received

    anymail_tracking_received(sender, event, esp_name, **kwargs)
