"""The audit trail: who did what to which object, when, from where, with the fields that changed.

Append-only like the consent ledger: the model refuses updates and deletes (single and bulk), the admin and
the API offer neither, and on PostgreSQL a trigger refuses UPDATE and DELETE on the table (migration 0002).
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from commhub.append_only import AppendOnlyModel, ScopedAppendOnlyManager
from commhub.tenancy import organisation_field

APPEND_ONLY = "The audit trail is append-only: entries are never changed or removed."


class ActorKind(models.TextChoices):
    USER = "user", "staff user"
    CLIENT = "client", "service client"
    END_USER = "end_user", "end user"
    SYSTEM = "system", "system"


class Source(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "admin"
    COMMAND = "command", "management command"
    WEBHOOK = "webhook", "webhook or public link"
    WORKER = "worker", "worker"


class AuditEntry(AppendOnlyModel):
    append_only_message = APPEND_ONLY

    organisation = organisation_field(help_text="whose object it is (its export is that organisation's)")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.CharField(max_length=255, db_index=True, help_text="who: a user name, a client, an end user's id")
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="where from (the caller's address)")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. template.publish, notification.retry")
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="the fields that matter, before"
    )
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="the same fields, after")
    detail = models.CharField(max_length=500, blank=True)

    objects = ScopedAppendOnlyManager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"
