"""The default organisation exists whenever the schema does: after every migrate, and after a flush (which empties
the table the data migration filled; tests that flush between cases rely on this, as contenttypes do)."""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from commhub.tenancy import DEFAULT_ORGANISATION_ID, DEFAULT_ORGANISATION_SLUG

from .models import Organisation


@receiver(post_migrate, dispatch_uid="commhub-default-organisation")
def default_organisation_ensure(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if getattr(sender, "name", None) != "orgs":
        return
    Organisation.objects.using(using).get_or_create(
        pk=DEFAULT_ORGANISATION_ID, defaults={"slug": DEFAULT_ORGANISATION_SLUG, "name": "Default organisation"}
    )
    connection = connections[using]
    if connection.vendor == "postgresql":  # the next organisation created must not be handed id 1 again
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('orgs_organisation', 'id'), "
                "(SELECT GREATEST(MAX(id), 1) FROM orgs_organisation))"
            )
