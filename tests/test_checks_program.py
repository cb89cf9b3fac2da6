"""Program checks (Piranha's send_program) with real scripts and real subprocesses."""

from __future__ import annotations

import json
import time

import pytest

from monitoring.checks import CheckSpec, build_argv
from tests.check_programs import ProgramDir, program_dir  # noqa: F401  (fixture)
from tests.test_checks_support import (
    LVS_CHECK_OWA,
    Certificate,
    ServerLoop,
    check,
    http_server,
    owa_route,
    process_gone,
    self_signed,  # noqa: F401  (fixture)
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
)


def program(command: str, **fields) -> CheckSpec:
    """A spec with no directory rule and no user switch: only for the tests that never
    reach a subprocess (the probe command line runs programs this way)."""
    fields.setdefault("timeout", 5)
    return CheckSpec("program", send_program=command, host=fields.pop("host", "127.0.0.1"),
                     port=fields.pop("port", 443), program_dir=None, program_user=None, **fields)


def test_it_substitutes_host_and_port_inside_each_argument() -> None:
    argv = build_argv("/usr/local/bin/check --url=https://%h:%p/owa 'two words' %h", "192.0.2.21", 443)
    assert argv == ["/usr/local/bin/check", "--url=https://192.0.2.21:443/owa", "two words", "192.0.2.21"]


def test_a_host_value_cannot_add_arguments() -> None:
    assert build_argv("check %h", "a b; rm -rf /", 1) == ["check", "a b; rm -rf /"]


def test_it_refuses_an_unbalanced_command_line() -> None:
    result = check(program("check 'oops"))
    assert (result.ok, result.reason) == (False, "bad program command: No closing quotation")


def test_it_runs_without_a_shell(program_dir: ProgramDir) -> None:
    argv_file = program_dir.scratch / "argv.json"
    script = program_dir.install(
        "args", f"import json, sys\nopen({str(argv_file)!r}, 'w').write(json.dumps(sys.argv[1:]))\nprint('OK')\n"
    )
    marker = program_dir.scratch / "pwned"
    result = check(program_dir.spec(f"{script} %h:%p ; touch {marker} $(id)", expect="OK"))
    assert result.ok, result
    assert not marker.exists()
    assert json.loads(argv_file.read_text()) == ["127.0.0.1:443", ";", "touch", str(marker), "$(id)"]


def test_it_gives_the_program_an_environment_of_its_own(program_dir: ProgramDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", "postgres://lbadmin:pw@db/lbadmin")
    monkeypatch.setenv("PATH", "/opt/worker/bin:/usr/bin:/bin")
    script = program_dir.install("env", "import os\nprint(' '.join(sorted(os.environ)), os.environ['PATH'])\n")
    result = check(program_dir.spec(str(script)))
    assert result.reason == "program exited 0"
    result = check(program_dir.spec(str(script), expect="HOME LANG PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
    assert result.ok, result


def test_it_is_up_when_the_program_prints_the_expected_line(program_dir: ProgramDir) -> None:
    script = program_dir.install("ok", "print('OK')\n")
    result = check(program_dir.spec(f"{script} %h %p", expect="OK"))
    assert (result.ok, result.reason) == (True, "program printed 'OK'")


def test_it_compares_the_whole_output_not_a_prefix(program_dir: ProgramDir) -> None:
    script = program_dir.install("okish", "print('OK but degraded')\n")
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, "program output not matched: got 'OK but degraded'")


def test_it_matches_output_as_a_regex(program_dir: ProgramDir) -> None:
    script = program_dir.install("load", "print('load=0.42 status=green')\n")
    assert check(program_dir.spec(str(script), expect=r"status=(green|yellow)", use_regex=True)).ok


def test_it_is_down_when_the_program_exits_non_zero(program_dir: ProgramDir) -> None:
    script = program_dir.install("fail", "import sys\nprint('OK')\nprint('disk full', file=sys.stderr)\nsys.exit(1)\n")
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, "program exited 1: disk full")


def test_it_is_down_when_the_program_prints_nothing(program_dir: ProgramDir) -> None:
    # nanny compared "output minus its last character" and could count this as up.
    script = program_dir.install("silent", "pass\n")
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, "program printed nothing")


def test_it_needs_only_exit_zero_when_expect_is_blank(program_dir: ProgramDir) -> None:
    script = program_dir.install("silent", "pass\n")
    result = check(program_dir.spec(str(script)))
    assert (result.ok, result.reason) == (True, "program exited 0")


def test_it_kills_a_hung_program_and_its_children_at_the_timeout(program_dir: ProgramDir) -> None:
    pids = program_dir.scratch / "pids"
    script = program_dir.install(
        "hang",
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n",
    )
    started = time.monotonic()
    result = check(program_dir.spec(str(script), expect="OK", timeout=1.0))
    elapsed = time.monotonic() - started
    assert (result.ok, result.reason) == (False, "timed out after 1.0 s (program killed)")
    assert elapsed < 2.5
    parent, child = map(int, pids.read_text().split())
    deadline = time.monotonic() + 2
    while not (process_gone(parent) and process_gone(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(parent) and process_gone(child)


def test_it_reports_a_program_killed_by_a_signal(program_dir: ProgramDir) -> None:
    script = program_dir.install("segv", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert check(program_dir.spec(str(script))).reason == "program killed by SIGSEGV"


def test_it_reports_a_missing_program(program_dir: ProgramDir) -> None:
    missing = program_dir.path / "lvs_check_owa"
    result = check(program_dir.spec(f"{missing} %h %p", expect="OK"))
    assert (result.ok, result.reason) == (False, f"program not found: {missing}")


def test_it_reports_a_program_that_is_not_executable(program_dir: ProgramDir) -> None:
    script = program_dir.install("plain.txt", "print('OK')\n", mode=0o644)
    result = check(program_dir.spec(str(script), expect="OK"))
    assert (result.ok, result.reason) == (False, f"program not executable: {script}")


def test_it_keeps_only_the_start_of_a_runaway_output(program_dir: ProgramDir) -> None:
    script = program_dir.install("yes", "import sys\nsys.stdout.write('y' * 5_000_000)\n")
    result = check(program_dir.spec(str(script), expect="OK"))
    assert not result.ok
    assert result.reason.startswith("program output not matched: got 'yyyy")


@pytest.mark.parametrize("healthy", [True, False])
def test_the_seed_lvs_check_owa_script_drives_the_check(
    servers: ServerLoop, self_signed: Certificate, program_dir: ProgramDir, healthy: bool
) -> None:
    # As in the article: send_program "/usr/local/bin/lvs_check_owa %h %p", expect "OK",
    # installed in the check program directory.
    port = servers.tcp(http_server(owa_route(healthy)), tls=self_signed.server_context())
    script = program_dir.install("lvs_check_owa", LVS_CHECK_OWA)
    result = check(program_dir.spec(f"{script} %h %p", port=port, expect="OK", timeout=30))
    if healthy:
        assert (result.ok, result.reason) == (True, "program printed 'OK'")
    else:
        assert (result.ok, result.reason) == (False, "program output not matched: got 'FAILURE'")
