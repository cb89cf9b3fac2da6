"""The audit log's PostgreSQL triggers, executed for real: a throwaway cluster (Debian's
postgresql, started by the test as the postgres user), lbadmin's migrations run on it, then
UPDATE, DELETE and TRUNCATE refused, and the hash chain verified."""
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

from pathlib import Path

import pytest

from tests.processes import ROOT

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").exists() else None


def as_postgres(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.fixture(scope="module")
def cluster():
    if PG_BIN is None or shutil.which("runuser") is None:
        pytest.skip("Debian's postgresql is not installed (.ci/run installs it)")
    postgres = pwd.getpwnam("postgres")
    # Not under pytest's root-only temp dir: the postgres user must reach it.
    base = Path(tempfile.mkdtemp(prefix="lbadmin-pg-"))
    os.chmod(base, 0o755)
    data = base / "data"
    data.mkdir()
    os.chown(data, postgres.pw_uid, postgres.pw_gid)
    done = as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    assert done.returncode == 0, done.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
                       "-o", f"-k {data} -p {port} -c listen_addresses=127.0.0.1", "start")
    assert done.returncode == 0, done.stderr + done.stdout
    try:
        done = as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "lbadmin")
        assert done.returncode == 0, done.stderr
        yield f"postgres://postgres@127.0.0.1:{port}/lbadmin"
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


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
            with pytest.raises(psycopg.Error) as refused:
                db.execute(sql)
            assert "append-only" in str(refused.value), sql
        assert db.execute("SELECT count(*) FROM lbadmin_auditentry").fetchone()[0] == 3
    done = manage(cluster, tmp_path, "verify_audit")
    assert done.returncode == 0 and "audit log intact: 3 entries" in done.stdout, done.stderr

