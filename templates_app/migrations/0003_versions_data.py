"""Each existing template's content becomes its version 1, published, with declared variables inferred from
the content (required where some use is unguarded). Migrated versions keep their exact output: no layout."""

from django.db import migrations
from django.utils import timezone


def content_to_versions(apps, schema_editor):
    from templates_app.variables import infer_declarations

    Template = apps.get_model("templates_app", "Template")
    TemplateVersion = apps.get_model("templates_app", "TemplateVersion")
    now = timezone.now()
    for template in Template.objects.filter(published_version__isnull=True):
        version = TemplateVersion.objects.create(
            template=template,
            number=1,
            status="published",
            subject=template.subject,
            text=template.body,
            html=template.html,
            variables=infer_declarations([template.subject, template.body, template.html]),
            use_layout=False,
            note="migrated from the unversioned template",
            created_by="migration",
            published_by="migration",
            published_at=now,
        )
        template.published_version = version
        template.save(update_fields=["published_version"])


class Migration(migrations.Migration):
    dependencies = [("templates_app", "0002_versions")]

    operations = [migrations.RunPython(content_to_versions, migrations.RunPython.noop)]
