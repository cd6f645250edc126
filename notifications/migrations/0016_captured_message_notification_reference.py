"""CapturedMessage.notification_id: the same uuid column, now seen by Django as a reference without a constraint
(so the admin narrows captures to the organisation of their notification). Nothing changes in the database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notifications", "0015_organisations")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="capturedmessage", name="notification_id"),
                migrations.AddField(
                    model_name="capturedmessage",
                    name="notification",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="notifications.notification",
                    ),
                ),
            ],
            database_operations=[],
        )
    ]
