"""Database triggers that make the audit table append-only, whatever code
(raw SQL, a future bug, the Django admin) tries to change it.

The one way around them is a row in lbadmin_audit_unlock, a table no model
maps: only someone with direct database access (the test harness emptying
its database between tests, or an operator's retention job run by hand)
can use it, and such a person could drop the triggers anyway.
"""
from django.db import migrations

SQLITE = [
    "CREATE TABLE lbadmin_audit_unlock (reason TEXT NOT NULL)",
    """CREATE TRIGGER lbadmin_audit_no_update BEFORE UPDATE ON lbadmin_auditentry
       WHEN NOT EXISTS (SELECT 1 FROM lbadmin_audit_unlock)
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER lbadmin_audit_no_delete BEFORE DELETE ON lbadmin_auditentry
       WHEN NOT EXISTS (SELECT 1 FROM lbadmin_audit_unlock)
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
POSTGRES = [
    "CREATE TABLE lbadmin_audit_unlock (reason TEXT NOT NULL)",
    """CREATE OR REPLACE FUNCTION lbadmin_audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF EXISTS (SELECT 1 FROM lbadmin_audit_unlock) THEN
           RETURN COALESCE(NEW, OLD);
         END IF;
         RAISE EXCEPTION 'the audit log is append-only';
       END $$ LANGUAGE plpgsql""",
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
