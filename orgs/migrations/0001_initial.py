from django.conf import settings
from django.db import migrations, models


def create_default(apps, schema_editor):
    Organisation = apps.get_model("orgs", "Organisation")
    Organisation.objects.get_or_create(pk=1, defaults={"slug": "default", "name": "Default organisation"})
    if schema_editor.connection.vendor == "postgresql":  # the next organisation must not be handed id 1 again
        schema_editor.execute("SELECT setval(pg_get_serial_sequence('orgs_organisation', 'id'), 1)")


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="Organisation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "slug",
                    models.SlugField(
                        help_text="Its name in tokens and commands, e.g. billing.", max_length=64, unique=True
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "is_active",
                    models.BooleanField(default=True, help_text="Inactive: its clients and staff are refused."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["pk"]},
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=models.deletion.PROTECT, related_name="members", to="orgs.organisation"
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE, related_name="membership", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_default, migrations.RunPython.noop),
    ]
