"""The data dir holds secrets (the secret key, the database, the TLS key): lbadmin creates
them private (lbadmin/envconfig.py: private_file) and checks at start that they still are.

The check runs as a Django system check (printed by `migrate` and `check`, which scripts/run
and docker-compose's migrate run first) and at the web process's start (gunicorn's log).
"""
from __future__ import annotations

import stat
from pathlib import Path

from django.conf import settings
from django.core import checks

from lbadmin.tls import TLSConfigError, certificate_files

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_paths() -> list[tuple[Path, int, int]]:
    """(path, the mode lbadmin gives it, the permission bits that must stay clear)."""
    found = [(settings.DATA_DIR, PRIVATE_DIR, 0o077)]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and database["NAME"] != ":memory:":
        found.append((Path(database["NAME"]), PRIVATE_FILE, 0o077))
    found.append((settings.DATA_DIR / "secret_key", PRIVATE_FILE, 0o077))
    try:
        _, key_file, own = certificate_files()
    except TLSConfigError:
        pass  # the web process refuses to start and says why
    else:
        # An operator's key may be shared with a group (Debian's ssl-cert), never with everyone.
        found.append((key_file, PRIVATE_FILE, 0o007 if own else 0o077))
    return found


def loose_permissions() -> list[str]:
    """One sentence per private file that others than lbadmin's user may read."""
    problems = []
    for path, mode, forbidden in private_paths():
        try:
            current = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if current & forbidden:
            problems.append(f"{path} has mode {current:04o}: other users can read it. "
                            f"Run: chmod {mode:o} {path}")
    return problems


@checks.register(checks.Tags.security)
def check_data_file_permissions(app_configs, **kwargs):
    return [checks.Warning(problem, id="lbadmin.W001") for problem in loose_permissions()]
