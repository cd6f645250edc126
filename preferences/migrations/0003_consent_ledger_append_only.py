"""The consent ledger is append-only in the database itself (PostgreSQL): UPDATE and DELETE raise, whoever
asks — the admin, the ORM, raw SQL or a superuser's psql session."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION preferences_consent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the consent ledger is append-only: record a new entry instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER preferences_consentrecord_append_only
    BEFORE UPDATE OR DELETE ON preferences_consentrecord
    FOR EACH ROW EXECUTE FUNCTION preferences_consent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS preferences_consentrecord_append_only ON preferences_consentrecord;
DROP FUNCTION IF EXISTS preferences_consent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("preferences", "0002_alter_recipient_options_recipient_erased_at_and_more")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
