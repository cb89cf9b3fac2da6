"""A throwaway PostgreSQL cluster (Debian's postgresql, run as the postgres user) for the
tests: initdb in a temporary directory, started on a free loopback port, removed at exit.

Debian's packaged cluster (pg_ctlcluster, port 5432) is never touched: a machine where
PostgreSQL already runs is not disturbed, and two test runs side by side do not meet.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab.services import LOOPBACK, free_port

SUPERUSER = "postgres"


def postgresql_bin() -> Path | None:
    """The newest installed server's bin directory (/usr/lib/postgresql/15/bin on Debian 12)."""
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)) if root.is_dir() else []
    return found[-1].parent if found else None


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    if postgresql_bin() is None:
        return "Debian's postgresql is not installed (.ci/run installs it)"
    if shutil.which("runuser") is None:
        return "runuser (util-linux) is missing"
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        return "there is no postgres user (the postgresql package creates it)"
    return None


def as_postgres(*argv: str) -> subprocess.CompletedProcess:
    # PostgreSQL refuses to run as root: initdb and pg_ctl run as the postgres user.
    return subprocess.run(["runuser", "-u", SUPERUSER, "--", *argv], capture_output=True, text=True, timeout=120)


@dataclass
class Cluster:
    port: int
    base: Path

    def url(self, database: str) -> str:
        return f"postgres://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        done = as_postgres(str(postgresql_bin() / "createdb"), "-h", LOOPBACK, "-p", str(self.port), name)
        if done.returncode != 0:
            raise RuntimeError(f"createdb {name}: {done.stderr.strip()}")

    def stop(self) -> None:
        as_postgres(str(postgresql_bin() / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


def start_cluster(attempts: int = 3) -> Cluster:
    """initdb and start; trust authentication on loopback only. Raises RuntimeError with
    the server's own words when it cannot start."""
    binaries = postgresql_bin()
    postgres = pwd.getpwnam(SUPERUSER)
    # Not under pytest's root-only temporary directory: the postgres user must reach it.
    base = Path(tempfile.mkdtemp(prefix="lbadmin-pg-"))
    os.chmod(base, 0o755)
    data = base / "data"
    data.mkdir()
    os.chown(data, postgres.pw_uid, postgres.pw_gid)
    done = as_postgres(str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                       "--encoding=UTF8", "--locale=C")
    if done.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
    error = ""
    for _ in range(attempts):  # another process may take the free port before the server binds it
        port = free_port()
        # fsync off: a throwaway cluster, and the tests commit a lot.
        done = as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
                           "-o", f"-k {data} -p {port} -c listen_addresses={LOOPBACK} -c fsync=off "
                                 "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                           "start")
        if done.returncode == 0:
            return Cluster(port=port, base=base)
        log = data / "log"
        error = log.read_text(errors="replace")[-2000:] if log.exists() else done.stderr
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {error.strip()}")
