"""Database triggers that make the audit table append-only, whatever code
(raw SQL, a future bug, the Django admin) tries to change it."""
from django.db import migrations

SQLITE = [
    """CREATE TRIGGER lbadmin_audit_no_update BEFORE UPDATE ON lbadmin_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER lbadmin_audit_no_delete BEFORE DELETE ON lbadmin_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION lbadmin_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER lbadmin_audit_no_change BEFORE UPDATE OR DELETE ON lbadmin_auditentry
       FOR EACH ROW EXECUTE FUNCTION lbadmin_audit_append_only()""",
]


def create_triggers(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}.get(schema_editor.connection.vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("lbadmin", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, migrations.RunPython.noop)]
