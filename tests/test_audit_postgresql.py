"""The audit log's PostgreSQL triggers, executed for real through the product's own
commands: `manage.py migrate` on an empty database of the throwaway cluster, entries
written, then UPDATE, DELETE and TRUNCATE refused, and `manage.py verify_audit` satisfied.
(The rest of the suite runs on PostgreSQL too, see tests/databases.py.)"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT


@pytest.fixture
def cluster(postgresql_test_database, tmp_path):
    """A fresh database of its own in the session's throwaway cluster (tests/postgresql.py)."""
    name = f"lbadmin_cli_{os.getpid()}_{tmp_path.name}".lower().replace("-", "_")[:60]
    postgresql_test_database.createdb(name)
    return postgresql_test_database.url(name)


def manage(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "LBADMIN_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


WRITE = """
from lbadmin import audit
for n in range(3):
    audit.record("update", None, object_type="Test", object_repr=f"thing {n}", before={"n": n}, after={"n": n + 1},
                 actor="tester")
"""


def test_the_postgresql_triggers_refuse_update_delete_and_truncate(cluster, tmp_path):
    import psycopg

    done = manage(cluster, tmp_path, "migrate", "--noinput")
    assert done.returncode == 0, done.stderr
    done = manage(cluster, tmp_path, "shell", "-c", WRITE)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(cluster, autocommit=True) as db:
        for sql in ("UPDATE lbadmin_auditentry SET message = 'nothing happened'",
                    "DELETE FROM lbadmin_auditentry",
                    "TRUNCATE lbadmin_auditentry"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as refused:
                db.execute(sql)
            assert "append-only" in str(refused.value), sql
        assert db.execute("SELECT count(*) FROM lbadmin_auditentry").fetchone()[0] == 3
    done = manage(cluster, tmp_path, "verify_audit")
    assert done.returncode == 0 and "audit log intact: 3 entries" in done.stdout, done.stderr

