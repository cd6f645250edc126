"""Every change staff make in the admin, into the audit trail (Django's LogEntry names who, what and which
fields; the services that matter most record their own entries with the values before and after)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditEntry
from .services import audit_record

_ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit-admin-log-entry")
def admin_change_recorded(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    content_type = ContentType.objects.get_for_id(instance.content_type_id) if instance.content_type_id else None
    if not created or content_type is None or content_type.model_class() is AuditEntry:
        return
    audit_record(
        action=_ADMIN_ACTIONS.get(instance.action_flag, "admin.other"),
        object_type=f"{content_type.app_label}.{content_type.model}",
        object_id=instance.object_id or "",
        after={"changed": instance.get_change_message()} if instance.change_message else {},
        actor=instance.user,
        detail=instance.object_repr,
    )
