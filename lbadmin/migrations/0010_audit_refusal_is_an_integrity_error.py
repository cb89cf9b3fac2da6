"""On PostgreSQL the append-only trigger raised a plain exception (SQLSTATE P0001), which
Django reports as ProgrammingError; SQLite's RAISE(ABORT) arrives as IntegrityError. The
refusal now carries SQLSTATE 23000 (integrity_constraint_violation): the same
IntegrityError on both databases, so code and operators see one kind of refusal."""
from django.db import migrations

POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION lbadmin_audit_append_only() RETURNS trigger AS $$
   BEGIN
     IF EXISTS (SELECT 1 FROM lbadmin_audit_unlock) THEN
       RETURN COALESCE(NEW, OLD);
     END IF;
     RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = '%s';
   END $$ LANGUAGE plpgsql"""


def refusal_with(errcode: str):
    def replace_function(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(POSTGRES_FUNCTION % errcode)
    return replace_function


class Migration(migrations.Migration):

    dependencies = [
        ("lbadmin", "0009_director_applied_table"),
    ]

    operations = [
        migrations.RunPython(refusal_with("integrity_constraint_violation"), refusal_with("raise_exception")),
    ]
