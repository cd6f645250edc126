"""The audit trail is append-only in the database itself (PostgreSQL): UPDATE and DELETE raise, whoever asks —
the admin, the ORM, raw SQL or a superuser's psql session."""

from django.db import migrations

from commhub.append_only import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        append_only_trigger("audit_auditentry", "the audit trail is append-only: entries are never changed or removed")
    ]
