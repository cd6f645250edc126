"""Append-only tables (the consent ledger, the audit trail): the model refuses to change or remove a row, and on
PostgreSQL a trigger refuses UPDATE and DELETE whoever asks (the admin, the ORM, raw SQL, a superuser's psql)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models

from commhub.tenancy import OrganisationScoped


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk updates and deletes refused like single ones (the model class names the refusal)."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError(self.model.append_only_message)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(self.model.append_only_message)


AppendOnlyManager = models.Manager.from_queryset(AppendOnlyQuerySet)
# an append-only table of tenant rows (the audit trail); the consent ledger's reach their organisation through
# the recipient
ScopedAppendOnlyManager = OrganisationScoped.from_queryset(AppendOnlyQuerySet)


class ConsentLedgerManager(ScopedAppendOnlyManager):
    path = "recipient__organisation"


class AppendOnlyModel(models.Model):
    append_only_message: ClassVar[str] = "This table is append-only."

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError(self.append_only_message)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(self.append_only_message)


def append_only_trigger(table: str, message: str) -> migrations.RunPython:
    """A migration operation: on PostgreSQL, UPDATE and DELETE on `table` raise `message` (reversible)."""
    function = f"{table}_append_only"
    create = f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{message}'; END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();
    """
    drop = f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}; DROP FUNCTION IF EXISTS {function}();"

    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create)

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop)

    return migrations.RunPython(forward, backward)
