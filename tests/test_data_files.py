"""The data dir and its secrets (database, secret key, TLS key) are private from the
start, and a loosened one is reported at start: by Django's checks (printed by `migrate`
and `check`) and in the web process's log (tests/test_https.py)."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(data_dir: Path, **extra: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DJANGO_SECRET_KEY",
                          "DJANGO_ALLOW_ASYNC_UNSAFE")}  # the last one: set by tests/browser.py
    return {**env, "LBADMIN_DATA_DIR": str(data_dir), **extra}


def manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=production_env(data_dir),
                          capture_output=True, text=True, timeout=120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data_dir(tmp_path):
    """A data dir as the first start leaves it: migrated, with its certificate."""
    folder = tmp_path / "data"
    assert manage(folder, "migrate", "--noinput", "--verbosity", "0").returncode == 0
    subprocess.run([sys.executable, "-m", "lbadmin.tls"], cwd=ROOT, env=production_env(folder), check=True,
                   capture_output=True)
    return folder


def test_the_first_start_makes_the_data_dir_and_its_secrets_private(data_dir):
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "lbadmin.sqlite3") == 0o600
    assert mode(data_dir / "secret_key") == 0o600
    assert mode(data_dir / "tls" / "key.pem") == 0o600
    assert (data_dir / "lbadmin.sqlite3").stat().st_size > 0, "the file made private is the database itself"


def test_private_files_leave_no_warning(data_dir):
    result = manage(data_dir, "check")

    assert result.returncode == 0 and "lbadmin.W001" not in result.stderr + result.stdout


@pytest.mark.parametrize("name, loose, fix", [
    ("", 0o755, "chmod 700"),
    ("lbadmin.sqlite3", 0o644, "chmod 600"),
    ("secret_key", 0o640, "chmod 600"),
    ("tls/key.pem", 0o644, "chmod 600"),
], ids=["data-dir", "database", "secret-key", "tls-key"])
def test_a_loosened_one_is_reported_with_the_command_that_fixes_it(data_dir, name, loose, fix):
    path = data_dir / name if name else data_dir
    path.chmod(loose)

    result = manage(data_dir, "check")

    assert "lbadmin.W001" in result.stderr
    assert f"{path} has mode {loose:04o}: other users can read it. Run: {fix} {path}" in result.stderr


def test_migrate_prints_the_warning_scripts_run_shows(data_dir):
    (data_dir / "secret_key").chmod(0o644)

    result = manage(data_dir, "migrate", "--noinput", "--verbosity", "0")

    assert result.returncode == 0
    assert f"{data_dir / 'secret_key'} has mode 0644" in result.stderr


def test_an_operators_key_may_be_shared_with_a_group_but_not_with_everyone(tmp_path):
    from lbadmin.tls import ensure_certificate

    own = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "own")})
    env = production_env(tmp_path / "data", LBADMIN_TLS_CERT=str(own.cert_file), LBADMIN_TLS_KEY=str(own.key_file))
    check = [sys.executable, "manage.py", "check"]

    own.key_file.chmod(0o640)
    shared = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    own.key_file.chmod(0o644)
    public = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert "lbadmin.W001" not in shared.stderr
    assert f"{own.key_file} has mode 0644" in public.stderr
