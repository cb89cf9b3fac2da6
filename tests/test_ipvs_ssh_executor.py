"""SSHExecutor against a real SSH server (paramiko's server side, on 127.0.0.1).

The server splits each command line with shlex, as a POSIX shell would, and runs the
fake ipvsadm from tmp_path. Everything travels over real sockets and real SSH.
"""

import json
import subprocess
import threading
import time

import paramiko
import pytest

from virtualservers.ipvs import (
    CommandFailed, CommandTimeout, HostKeyMismatch, IpvsadmMissing, NoKernelSupport,
    SSHAuthFailed, SSHExecutor, SSHRefused, Table, fingerprint, parse_save, plan,
    scan_host_key,
)

from .test_ipvs_parse import EXPECTED, LIST, SAVE
from .test_ipvs_support import FakeIpvsadm, SSHServer, free_port, key_line, new_ed25519_key


@pytest.fixture
def keys(tmp_path):
    return {"host": new_ed25519_key(tmp_path / "host_key"),
            "client": new_ed25519_key(tmp_path / "id_ed25519"),
            "client_path": str(tmp_path / "id_ed25519")}


@pytest.fixture
def fake(tmp_path):
    return FakeIpvsadm.create(tmp_path, save=SAVE, list={"-n --exact": LIST})


@pytest.fixture
def server(keys, fake):
    server = SSHServer(keys["host"], keys["client"], allowed={str(fake.path)}).start()
    yield server
    server.stop()


@pytest.fixture
def executor(server, keys, fake):
    executor = SSHExecutor("127.0.0.1", server.port, "root", keys["client_path"],
                           key_line(keys["host"]), timeout=10, ipvsadm=str(fake.path))
    yield executor
    executor.close()


def test_it_runs_every_call_over_one_connection(executor, server, fake):
    assert parse_save(executor.save()) == EXPECTED
    assert executor.list_text() == LIST
    executor.restore(plan(Table(), EXPECTED))
    assert parse_save(executor.save()) == EXPECTED
    assert server.connections == 1
    assert executor.connections_opened == 1
    assert [c["argv"][1:2] for c in fake.calls()] == [["-S"], ["-L"], ["-R"], ["-S"]]


def test_it_waits_for_output_that_comes_after_the_exit_status(executor, server):
    server.status_before_output = True
    assert parse_save(executor.save()) == EXPECTED


def test_it_feeds_restore_lines_through_the_channel_stdin(executor, fake):
    commands = plan(Table(), EXPECTED)
    executor.restore([c.line for c in commands])
    call = fake.calls()[-1]
    assert call["argv"][1:] == ["-R"]
    assert call["stdin"] == "".join(c.line + "\n" for c in commands)


def test_it_carries_a_large_batch(executor, fake):
    lines = [f"-a -t 192.0.2.1:80 -r 10.{i // 250}.{i % 250}.1:80 -m -w 1" for i in range(9000)]
    executor.restore(lines)
    assert fake.calls()[-1]["stdin"].count("\n") == 9000


def test_it_reconnects_when_the_connection_dropped(executor, server):
    executor.save()
    server.drop_connections()
    time.sleep(0.2)
    assert parse_save(executor.save()) == EXPECTED
    assert server.connections == 2
    assert executor.connections_opened == 2


def test_hostile_values_arrive_as_single_argv_items(executor, server, fake, tmp_path):
    fake.configure(mode="echo")
    hostile = ["-A", "-t", "a b; touch pwned", "$(touch pwned)", "`touch pwned`", "it's",
               "\"q\"", "x > pwned", "*", "\\n", "-w\n-C"]
    result = executor.run(["ipvsadm", *hostile])
    assert json.loads(result.stdout)[1:] == hostile
    assert server.argvs[-1] == [str(fake.path), *hostile]
    # The same command line through a real POSIX shell gives the same argv, runs nothing else.
    line = executor.command_line(["ipvsadm", *hostile])
    shell = subprocess.run(["sh", "-c", line], capture_output=True, text=True, cwd=tmp_path,
                           check=True)
    assert json.loads(shell.stdout)[1:] == hostile
    assert not (tmp_path / "pwned").exists()


def test_it_refuses_a_host_with_another_key(server, keys, fake, tmp_path):
    other = new_ed25519_key(tmp_path / "other_host_key")
    executor = SSHExecutor("127.0.0.1", server.port, "root", keys["client_path"],
                           key_line(other), timeout=10, ipvsadm=str(fake.path))
    with pytest.raises(HostKeyMismatch) as caught:
        executor.save()
    message = str(caught.value)
    assert fingerprint(other) in message and fingerprint(keys["host"]) in message
    assert caught.value.expected == fingerprint(other)
    assert caught.value.got == fingerprint(keys["host"])
    assert fake.calls() == []


def test_it_refuses_a_host_offering_only_another_key_type(server, keys, fake):
    rsa = "ssh-rsa " + paramiko.RSAKey.generate(1024).get_base64()
    executor = SSHExecutor("127.0.0.1", server.port, "root", keys["client_path"], rsa,
                           timeout=10, ipvsadm=str(fake.path))
    with pytest.raises(HostKeyMismatch) as caught:
        executor.save()
    assert caught.value.got.endswith(fingerprint(keys["host"]))
    assert fake.calls() == []


def test_it_says_the_port_refused_the_connection(keys, fake):
    executor = SSHExecutor("127.0.0.1", free_port(), "root", keys["client_path"],
                           key_line(keys["host"]), timeout=5, ipvsadm=str(fake.path))
    with pytest.raises(SSHRefused, match="connection refused"):
        executor.save()


def test_it_says_when_our_key_is_not_accepted(server, keys, fake, tmp_path):
    stranger = new_ed25519_key(tmp_path / "stranger")
    executor = SSHExecutor("127.0.0.1", server.port, "root", str(tmp_path / "stranger"),
                           key_line(keys["host"]), timeout=10, ipvsadm=str(fake.path))
    with pytest.raises(SSHAuthFailed, match="'root'"):
        executor.save()
    assert stranger is not None and fake.calls() == []


def test_it_says_when_the_private_key_cannot_be_read(server, keys, fake, tmp_path):
    executor = SSHExecutor("127.0.0.1", server.port, "root", str(tmp_path / "missing"),
                           key_line(keys["host"]), timeout=10, ipvsadm=str(fake.path))
    with pytest.raises(SSHAuthFailed, match="cannot load the private key"):
        executor.save()


def test_it_maps_remote_ipvsadm_errors(executor, fake):
    fake.configure(mode="nokernel")
    with pytest.raises(NoKernelSupport):
        executor.save()
    fake.configure(mode="fail", stderr="No such service\n", rc=255)
    with pytest.raises(CommandFailed, match="No such service") as caught:
        executor.run(["ipvsadm", "-D", "-t", "192.0.2.1:80"])
    assert caught.value.returncode == 255


def test_it_says_when_ipvsadm_is_missing_on_the_director(server, keys):
    executor = SSHExecutor("127.0.0.1", server.port, "root", keys["client_path"],
                           key_line(keys["host"]), timeout=10, ipvsadm="/sbin/no-ipvsadm")
    with pytest.raises(IpvsadmMissing, match="127.0.0.1"):
        executor.save()


def test_it_gives_up_on_a_command_after_the_timeout(executor, fake):
    fake.configure(mode="sleep", seconds=5)
    executor.timeout = 1
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        executor.save()
    assert time.monotonic() - started < 4


def test_it_rejects_a_malformed_pinned_key(keys):
    with pytest.raises(ValueError, match="host key"):
        SSHExecutor("127.0.0.1", 22, "root", keys["client_path"], "garbage")


def test_it_reads_a_host_key_to_pin_with_its_fingerprint(server, keys):
    offered = scan_host_key("127.0.0.1", server.port, timeout=10)
    assert offered == key_line(keys["host"])
    assert fingerprint(offered) == fingerprint(keys["host"])
    assert fingerprint(offered).startswith("SHA256:")


def test_calls_from_several_threads_share_the_one_connection(executor, server):
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(parse_save(executor.save()))
        except Exception as exc:   # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert results == [EXPECTED] * 12
    assert server.connections == 1
