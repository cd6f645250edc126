"""A published template version is frozen in the database itself (PostgreSQL): UPDATE and DELETE of such a row
raise, so what a notification was rendered from can never change under it."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION templates_app_version_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'template version %% is published and frozen: create a new version instead', OLD.id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER templates_app_templateversion_frozen
    BEFORE UPDATE OR DELETE ON templates_app_templateversion
    FOR EACH ROW WHEN (OLD.status = 'published')
    EXECUTE FUNCTION templates_app_version_frozen();
"""
DROP = """
DROP TRIGGER IF EXISTS templates_app_templateversion_frozen ON templates_app_templateversion;
DROP FUNCTION IF EXISTS templates_app_version_frozen();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("templates_app", "0004_drop_unversioned_content")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
