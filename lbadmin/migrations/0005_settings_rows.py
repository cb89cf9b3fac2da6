"""The two settings rows exist from the start, so no page has to create them on a GET."""
from django.db import migrations


def create_rows(apps, schema_editor):
    for name in ("ClusterSettings", "RedundancySettings"):
        apps.get_model("lbadmin", name).objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("lbadmin", "0004_settings_bounds_and_choices")]

    operations = [migrations.RunPython(create_rows, migrations.RunPython.noop)]
