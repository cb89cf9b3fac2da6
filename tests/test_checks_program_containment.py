"""Program checks are contained (the passwd.php3 hole): only root-owned programs in the
operator's directory run, as nobody, with nothing of the worker's. The reproductions of
the issue, with real files, real permissions and real subprocesses; the tests run as root,
as the worker does."""
from __future__ import annotations

import os
import sqlite3

import pytest

from tests.check_programs import ProgramDir, program_dir  # noqa: F401  (fixture)
from tests.needs import as_root  # noqa: F401  (fixture)
from tests.test_checks_support import check

pytestmark = pytest.mark.usefixtures("as_root")

DELETE_AUDIT = """import sqlite3, sys
path = sys.argv[1]
try:
    open(path, "r+b").close()
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    db.execute("DELETE FROM lbadmin_auditentry")
    db.commit()
except Exception as exc:
    sys.exit(f"{type(exc).__name__}: {exc}")
print("deleted")
"""


def audit_database(folder) -> str:
    path = folder / "lbadmin.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE lbadmin_auditentry (id INTEGER PRIMARY KEY, message TEXT)")
        db.execute("CREATE TRIGGER audit_no_delete BEFORE DELETE ON lbadmin_auditentry "
                   "BEGIN SELECT RAISE(ABORT, 'append-only'); END")
        db.executemany("INSERT INTO lbadmin_auditentry (message) VALUES (?)", [("one",), ("two",), ("three",)])
    path.chmod(0o600)
    return str(path)


def audit_rows(path: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM lbadmin_auditentry").fetchone()[0]


def test_a_program_cannot_delete_the_audit_rows(program_dir: ProgramDir) -> None:
    database = audit_database(program_dir.private_dir("data"))
    script = program_dir.install("erase_audit", DELETE_AUDIT)
    result = check(program_dir.spec(f"{script} {database}"))
    assert not result.ok
    assert result.reason == f"program exited 1: PermissionError: [Errno 13] Permission denied: {database!r}"
    assert audit_rows(database) == 3


def test_the_same_program_run_as_root_would_have_deleted_them(program_dir: ProgramDir) -> None:
    # The control: the refusal above is the user switch's doing, not a broken script.
    database = audit_database(program_dir.private_dir("data"))
    script = program_dir.install("erase_audit", DELETE_AUDIT)
    result = check(program_dir.spec(f"{script} {database}", program_user=None))
    assert (result.ok, result.reason) == (True, "program exited 0")
    assert audit_rows(database) == 0


def test_a_program_cannot_show_the_secret_key(program_dir: ProgramDir) -> None:
    key_file = program_dir.private_dir("data") / "secret_key"
    key_file.write_text("django-insecure-the-real-key")
    key_file.chmod(0o600)
    script = program_dir.install("show", 'exec /bin/cat "$1"\n', interpreter="/bin/sh")
    result = check(program_dir.spec(f"{script} {key_file}"))
    assert not result.ok and "the-real-key" not in result.reason
    assert result.reason == f"program exited 1: /bin/cat: {key_file}: Permission denied"


def test_it_runs_as_nobody_without_groups_in_slash_with_umask_077_and_no_open_files(program_dir: ProgramDir) -> None:
    script = program_dir.install(
        "who", "import os\nmask = os.umask(0)\n"
        "print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd(), oct(mask), sorted(os.listdir('/proc/self/fd')))\n")
    result = check(program_dir.spec(str(script)))
    # fd 3 is listdir's own handle on /proc/self/fd.
    assert result.reason == "program exited 0"
    result = check(program_dir.spec(str(script), expect="65534 65534 [] / 0o77 ['0', '1', '2', '3']"))
    assert result.ok, result


def test_a_program_outside_the_directory_is_refused_and_never_runs(program_dir: ProgramDir) -> None:
    marker = program_dir.scratch / "ran"
    result = check(program_dir.spec(f"/bin/sh -c 'touch {marker}; echo OK'", expect="OK"))
    assert (result.ok, result.reason) == (False, f"program /bin/sh is not in {program_dir.path}")
    assert not marker.exists()


def test_dot_dot_cannot_climb_out_of_the_directory(program_dir: ProgramDir) -> None:
    escape = f"{program_dir.path}/../../../bin/sh"
    result = check(program_dir.spec(f"{escape} -c 'echo OK'", expect="OK"))
    assert (result.ok, result.reason) == (False, f"program {escape} is not in {program_dir.path}")


def test_a_symlink_in_the_directory_cannot_point_out_of_it(program_dir: ProgramDir) -> None:
    (program_dir.path / "sh").symlink_to("/bin/sh")
    result = check(program_dir.spec(f"{program_dir.path}/sh -c 'echo OK'", expect="OK"))
    assert (result.ok, result.reason) == (False, f"program {program_dir.path}/sh is not in {program_dir.path}")


def test_a_relative_program_is_refused(program_dir: ProgramDir) -> None:
    result = check(program_dir.spec("sh -c 'echo OK'", expect="OK"))
    assert (result.ok, result.reason) == (False, f"program sh is not an absolute path in {program_dir.path}")


def test_a_directory_others_can_write_to_is_refused_on_every_run(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n")
    assert check(program_dir.spec(str(script), expect="OK")).ok
    program_dir.path.chmod(0o777)  # changed after it was saved: the next run sees it
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, f"refused: {program_dir.path} is writable by group or others")


def test_a_program_the_group_can_write_is_refused(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n", mode=0o775)
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, f"refused: {script} is writable by group or others")


def test_a_program_not_owned_by_root_is_refused(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n")
    os.chown(script, 65534, 65534)
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, f"refused: {script} is owned by uid 65534, not root")


def test_it_never_runs_a_program_as_root(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n")
    result = check(program_dir.spec(str(script), expect="OK", program_user="root"))
    assert (result.ok, result.reason) == (False, "refused: check programs never run as root (user 'root')")


def test_it_refuses_to_run_as_a_user_that_does_not_exist(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n")
    result = check(program_dir.spec(str(script), expect="OK", program_user="no-such-user"))
    assert (result.ok, result.reason) == (False, "refused: no user 'no-such-user' to run check programs as")
