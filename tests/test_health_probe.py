"""`python manage.py probe`: one line, exit 0 up, 1 down, 2 bad usage, never a traceback.
Run as a real subprocess, as an operator would."""
import subprocess
import sys

from tests.health_servers import closed_port, http_server, listener
from tests.processes import ROOT


def probe(*args):
    done = subprocess.run([sys.executable, "manage.py", "probe", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_it_prints_up_and_exits_0_for_a_listening_port():
    with listener() as port:
        code, out, err = probe("tcp", "--host", "127.0.0.1", "--port", str(port))
    assert code == 0 and err == ""
    assert out.startswith("UP ") and out.strip().endswith("connected") and len(out.splitlines()) == 1


def test_it_prints_down_and_exits_1_for_a_refused_port():
    code, out, _ = probe("tcp", "--host", "127.0.0.1", "--port", str(closed_port()), "--timeout", "2")
    assert code == 1 and out.startswith("DOWN ") and "connection refused" in out


def test_it_runs_the_owa_check_natively():
    with http_server(200, b"<title>Outlook</title>") as port:
        code, out, _ = probe("http", "--host", "127.0.0.1", "--port", str(port), "--path", "/owa",
                             "--expect", "utlook")
    assert code == 0 and "HTTP 200" in out
    with http_server(500) as port:
        code, out, _ = probe("http", "--host", "127.0.0.1", "--port", str(port), "--path", "/owa")
    assert code == 1 and "HTTP 500" in out


def test_it_runs_a_program_with_host_and_port_substituted():
    code, out, _ = probe("program", "--host", "127.0.0.1", "--port", "8443",
                         "--program", "/bin/echo OK %h:%p", "--expect", "OK 127.0.0.1:8443")
    assert code == 0 and out.startswith("UP ")


def test_bad_usage_exits_2_with_a_message_and_no_traceback():
    for args in (["tcp", "--port", "80"], ["nosuchtype"], ["tcp", "--host", "127.0.0.1", "--port", "99999"],
                 ["http", "--host", "127.0.0.1", "--send", "x"], []):
        code, out, err = probe(*args)
        assert code == 2, (args, code, out, err)
        assert "Traceback" not in err and "error:" in err and out == ""
