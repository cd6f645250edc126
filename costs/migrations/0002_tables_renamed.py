from django.db import migrations

MOVED = ["budget", "budgetspend", "costentry", "pricingrule"]


def content_types_follow(apps, schema_editor):
    """Permissions staff and API groups hold on these models (e.g. costs.change_budget) stay theirs: the content
    types move with the models instead of being recreated."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="costs", model=model).exists():
            ContentType.objects.filter(app_label="analytics", model=model).update(app_label="costs")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="costs", model__in=MOVED).update(app_label="analytics")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("costs", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="budget", table=None),
        migrations.AlterModelTable(name="budgetspend", table=None),
        migrations.AlterModelTable(name="costentry", table=None),
        migrations.AlterModelTable(name="pricingrule", table=None),
        migrations.RunPython(content_types_follow, content_types_back),
    ]
