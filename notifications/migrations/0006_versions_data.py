"""Notifications created before versions existed point at their template's version 1."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def link_versions(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    Template = apps.get_model("templates_app", "Template")
    Notification.objects.filter(template__isnull=False, template_version__isnull=True).update(
        template_version=Subquery(Template.objects.filter(pk=OuterRef("template")).values("published_version")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_versions"), ("templates_app", "0003_versions_data")]

    operations = [migrations.RunPython(link_versions, migrations.RunPython.noop)]
