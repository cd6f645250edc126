"""Give the default catalogue's types the policies the catalogue now declares (category, preference policy,
quiet hours, frequency cap) — only where a type still has the neutral defaults, so staff edits stay."""

from django.db import migrations


def apply_catalogue_policies(apps, schema_editor):
    from notifications.catalogue import TYPES

    NotificationType = apps.get_model("notifications", "NotificationType")
    fields = ["category", "preference_policy", "respects_quiet_hours", "frequency_cap_count",
              "frequency_cap_window_hours", "frequency_cap_action"]
    for spec in TYPES:
        ntype = NotificationType.objects.filter(key=spec["key"], category="general").first()
        if ntype is None:
            continue
        for name in fields:
            if name in spec:
                setattr(ntype, name, spec[name])
        ntype.save(update_fields=[f for f in fields if f in spec])


class Migration(migrations.Migration):
    dependencies = [("notifications", "0003_notificationtype_category_and_more")]

    operations = [migrations.RunPython(apply_catalogue_policies, migrations.RunPython.noop)]
