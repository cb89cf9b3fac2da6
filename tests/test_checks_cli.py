"""`probe` (monitoring.checks.cli): one line out, exit 0 up / 1 down / 2 bad usage."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring.checks.cli import probe_main
from tests.test_checks_support import (
    Certificate,
    ServerLoop,
    accept_and_wait,
    closed_port,
    http_server,
    owa_route,
    self_signed,  # noqa: F401  (fixture)
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
    write_script,
)

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(UP|DOWN) \d+\.\d \S.*\n$")


def probe(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = probe_main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_it_prints_up_and_exits_0(servers: ServerLoop) -> None:
    port = servers.tcp(accept_and_wait)
    code, out, err = probe("tcp", "--host", "127.0.0.1", "--port", str(port), "--timeout", "2")
    assert code == 0
    assert LINE.match(out) and out.startswith("UP ") and out.endswith(" connected\n")
    assert err == ""


def test_it_prints_down_with_the_reason_and_exits_1() -> None:
    code, out, _ = probe("tcp", "--host", "127.0.0.1", "--port", str(closed_port()))
    assert code == 1
    assert LINE.match(out) and out.startswith("DOWN ") and out.endswith(" connection refused\n")


def test_it_runs_the_seed_owa_check(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(owa_route(healthy=True)), tls=self_signed.server_context())
    code, out, _ = probe("https", "--host", "127.0.0.1", "--port", str(port), "--path", "/owa",
                         "--expect", "utlook", "--no-verify", "--timeout", "30")
    assert (code, out.split(" ", 2)[2]) == (0, "HTTP 200, body matched\n")


def test_it_runs_a_program_with_host_and_port(tmp_path: Path) -> None:
    script = write_script(tmp_path, "echo_args", "import sys\nprint(' '.join(sys.argv[1:]))\n")
    code, out, _ = probe("program", "--program", f"{script} %h %p", "--host", "192.0.2.21",
                         "--port", "443", "--expect", "192.0.2.21 443")
    assert code == 0, out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["smtp", "--host", "127.0.0.1"], "argument TYPE: invalid choice: 'smtp'"),
        (["tcp", "--host", "127.0.0.1"], "--port is required for tcp checks"),
        (["tcp", "--port", "80"], "--host is required for tcp checks"),
        (["tcp", "--host", "h", "--port", "80", "--send", "x"], "--send does not apply to tcp checks"),
        (["http", "--host", "h", "--status", "2xx"], "--status: '2xx' is not a status code"),
        (["send-expect", "--host", "h", "--port", "1", "--expect", "(", "--regex"], "--expect is not a valid regex"),
        (["tcp", "--host", "h", "--port", "99999"], "--port 99999 is not 1-65535"),
        (["tcp", "--host", "h", "--port", "1", "--timeout", "0"], "--timeout must be above 0"),
        (["tcp", "--host", "h", "--port", "x"], "argument --port: invalid int value: 'x'"),
        (["program"], "--program is required for program checks"),
        (["program", "--program", "check %h"], "--program uses %h, so --host is required"),
        (["dns", "--host", "127.0.0.1"], "--dns-name is required for dns checks"),
        ([], "the following arguments are required: TYPE"),
    ],
)
def test_it_exits_2_with_the_usage_error_on_stderr(argv: list[str], message: str) -> None:
    code, out, err = probe(*argv)
    assert code == 2
    assert out == ""
    assert "probe: error: " + message in err
    assert "Traceback" not in err


def test_help_exits_0() -> None:
    code, out, _ = probe("--help")
    assert code == 0 and "usage: probe" in out


def test_as_a_process_it_exits_with_the_same_codes_and_never_a_traceback(servers: ServerLoop) -> None:
    port = servers.tcp(accept_and_wait)

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitoring.checks.cli", *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=30)

    up = run("tcp", "--host", "127.0.0.1", "--port", str(port))
    down = run("udp", "--host", "127.0.0.1", "--port", str(closed_port()), "--expect", "*")
    usage = run("tcp", "--host", "127.0.0.1")
    assert (up.returncode, down.returncode, usage.returncode) == (0, 1, 2)
    assert LINE.match(up.stdout) and LINE.match(down.stdout)
    assert usage.stdout == "" and "probe: error:" in usage.stderr
    assert all("Traceback" not in p.stderr for p in (up, down, usage))
