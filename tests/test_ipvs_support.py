"""Shared parts for the test_ipvs_* tests (this module holds no tests itself).

- Hypothesis strategies for tables that ipvsadm can express.
- FakeIpvsadm: a small program written into tmp_path that answers like ipvsadm does
  (texts and exit codes from ipvsadm 1.31's source). It is a unit-test double for the
  executors only; the lab VM (lab/) runs the real ipvsadm on a real kernel.
- SSHServer: a real paramiko SSH server in a thread on 127.0.0.1, as paramiko's own
  tests run one. It splits the exec'd command line with shlex (as a POSIX shell does),
  runs it only if argv[0] is an allowed program, and counts connections.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import strategies as st

from virtualservers.ipvs import Destination, Service, ServiceKey, Table
from virtualservers.ipvs.model import SCHED_FLAGS, SCHEDULERS
from lab.services import free_port  # noqa: F401  (tests import it from here)

# ---------------------------------------------------------------------------
# Hypothesis strategies
# ---------------------------------------------------------------------------

# Small pools make collisions (same key, same destination) likely; the far-apart
# IPv4 addresses exercise ordering across the whole 32-bit range.
IPV4 = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "10.0.0.1", "10.0.0.2", "0.0.0.1",
        "255.255.255.254", "203.0.113.200"]
IPV6 = ["2001:db8::1", "2001:db8::2", "2001:db8:0:1:1:1:1:1", "fe80::1", "::ffff:192.0.2.9",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "::2"]
PORTS = [1, 80, 443, 8080, 65535]
NETMASK4 = ["255.255.255.0", "255.255.0.0", "0.0.0.0", "255.255.255.255"]
NETMASK6 = ["64", "1", "127", "128"]


@st.composite
def destinations(draw, key: ServiceKey, thresholds: bool) -> Destination:
    forwarding = draw(st.sampled_from(["masq", "route", "tunnel"]))
    family = key.family
    if forwarding == "tunnel" and draw(st.booleans()):
        family = 10 - family   # only tunnels may cross families
    address = draw(st.sampled_from(IPV4 if family == 4 else IPV6))
    if key.is_fwmark or forwarding == "masq":
        port = draw(st.sampled_from([0, *PORTS]))
    else:
        port = key.port        # ipvsadm gives DR and tunnel servers the service port
    weight = draw(st.sampled_from([0, 1, 2, 100, 65535]))
    upper = lower = 0
    if thresholds:
        upper = draw(st.sampled_from([0, 10, 1000]))
        lower = draw(st.integers(0, upper))
    return Destination(address, port, forwarding, weight, upper, lower)


@st.composite
def services(draw, thresholds: bool = False) -> Service:
    kind = draw(st.sampled_from(["tcp", "udp", "sctp", "fwmark"]))
    family = draw(st.sampled_from([4, 6]))
    persistent = draw(st.sampled_from([None, None, 1, 300, 86400 * 31]))
    if kind == "fwmark":
        key = ServiceKey.for_fwmark(draw(st.sampled_from([1, 2, 7, 4294967295])), family)
    else:
        address = draw(st.sampled_from(IPV4 if family == 4 else IPV6))
        port = draw(st.sampled_from(PORTS + ([0] if persistent else [])))
        key = ServiceKey(kind, address, port)
    scheduler = draw(st.sampled_from(SCHEDULERS))
    netmask = None
    if persistent is not None:
        netmask = draw(st.sampled_from([None, *(NETMASK4 if family == 4 else NETMASK6)]))
    pe = draw(st.sampled_from([None, None, "sip"]))
    ops = draw(st.booleans()) if kind in ("udp", "fwmark") else False
    names = [*SCHED_FLAGS.get(scheduler, ("flag-1", "flag-2")), "flag-3"]
    flags = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=2)))
    dests = draw(st.lists(destinations(key, thresholds), max_size=5, unique_by=lambda d: d.key))
    return Service(key, scheduler, persistent, netmask, pe, ops, flags, dests)


def tables(thresholds: bool = False, max_size: int = 6):
    return st.lists(services(thresholds), max_size=max_size,
                    unique_by=lambda s: s.key).map(Table)


# ---------------------------------------------------------------------------
# A fake ipvsadm for executor tests
# ---------------------------------------------------------------------------

# The program reads its behaviour from PROGRAM.json and appends each call to
# PROGRAM.calls (argv and stdin as JSON lines).
_FAKE_IPVSADM = r'''#!{python}
import json, sys, time
from pathlib import Path

me = Path(__file__)
config = json.loads(Path(str(me) + ".json").read_text())
args = sys.argv[1:]
stdin = sys.stdin.read() if args[:1] == ["-R"] else None
with open(str(me) + ".calls", "a") as log:
    log.write(json.dumps({{"argv": sys.argv, "stdin": stdin}}) + "\n")

mode = config.get("mode", "ok")
if mode == "nokernel":     # ipvsadm 1.31 on a kernel without ip_vs
    sys.stderr.write("modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.1.0\n"
                     "Can't initialize ipvs: Protocol not available\n"
                     "Are you sure that IP Virtual Server is built in the kernel or as module?\n")
    sys.exit(2)
if mode == "notroot":      # ipvsadm run by a user without CAP_NET_ADMIN
    sys.stderr.write("Can't initialize ipvs: Permission denied (you must be root)\n"
                     "Are you sure that IP Virtual Server is built in the kernel or as module?\n")
    sys.exit(2)
if mode == "sleep":
    time.sleep(config.get("seconds", 30))
if mode == "echo":
    print(json.dumps(sys.argv))
    sys.exit(0)
if mode == "fail":         # e.g. "Service already exists", status 255 (return -1 from main)
    sys.stderr.write(config["stderr"])
    sys.exit(config.get("rc", 255))
if args[:1] == ["-S"]:
    sys.stdout.write(config.get("save", ""))
elif args[:1] == ["-L"]:
    sys.stdout.write(config.get("list", {{}}).get(" ".join(args[1:]), ""))
elif args[:1] == ["-R"]:
    # ipvsadm -R prints a refused line's error and goes on; the status is the last line's.
    sys.stderr.write(config.get("restore_stderr", ""))
    sys.exit(config.get("restore_rc", 0))
'''


@dataclass
class FakeIpvsadm:
    path: Path

    @classmethod
    def create(cls, directory: Path, name: str = "ipvsadm", **config) -> FakeIpvsadm:
        path = directory / name
        path.write_text(_FAKE_IPVSADM.format(python=sys.executable))
        path.chmod(0o755)
        fake = cls(path)
        fake.configure(**config)
        return fake

    def configure(self, **config) -> None:
        Path(str(self.path) + ".json").write_text(json.dumps(config))

    def calls(self) -> list[dict]:
        log = Path(str(self.path) + ".calls")
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


# ---------------------------------------------------------------------------
# A real SSH server on loopback
# ---------------------------------------------------------------------------

def new_ed25519_key(path: Path) -> paramiko.Ed25519Key:
    """A fresh Ed25519 private key written in OpenSSH format (as ssh-keygen would)."""
    private = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    path.chmod(0o600)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class _Handler(paramiko.ServerInterface):
    def __init__(self, server: SSHServer):
        self.server = server

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if username == self.server.user and key == self.server.client_key:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        text = command.decode() if isinstance(command, bytes) else command
        threading.Thread(target=self.server._execute, args=(channel, text), daemon=True).start()
        return True


@dataclass
class SSHServer:
    """SSH on 127.0.0.1 that runs allowed programs with argv from shlex.split."""
    host_key: paramiko.PKey
    client_key: paramiko.PKey
    allowed: set[str]
    user: str = "root"
    port: int = 0
    connections: int = 0
    # As OpenSSH may: the exit status before the last of the program's output.
    status_before_output: bool = False
    commands: list[str] = field(default_factory=list)
    argvs: list[list[str]] = field(default_factory=list)
    _transports: list = field(default_factory=list)
    _sock: socket.socket | None = None
    _stopped: bool = False

    def start(self) -> SSHServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Handler(self))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def _execute(self, channel: paramiko.Channel, command: str) -> None:
        self.commands.append(command)
        argv = shlex.split(command)
        self.argvs.append(argv)
        try:
            # Read the client's stdin up to its EOF first: the client only sends it once
            # the exec request was answered, so closing the channel cannot race that answer.
            received = bytearray()
            while True:
                chunk = channel.recv(65536)
                if not chunk:
                    break
                received += chunk
            if not argv or argv[0] not in self.allowed:
                channel.sendall_stderr(f"sh: 1: {argv[0] if argv else ''}: not found\n".encode())
                channel.send_exit_status(127)
                return
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            out, err = process.communicate(bytes(received))
            if self.status_before_output:
                channel.sendall(out[:len(out) // 2])
                time.sleep(0.1)
                channel.send_exit_status(process.returncode)
                time.sleep(0.7)  # longer than the client's 0.5 s select: it wakes in between
                out = out[len(out) // 2:]
            channel.sendall(out)
            channel.sendall_stderr(err)
            channel.send_exit_status(process.returncode)
        except OSError:
            pass
        finally:
            channel.close()

    def drop_connections(self) -> None:
        """Cut every open connection, as a director reboot or a network blip would."""
        for transport in self._transports:
            transport.close()

    def stop(self) -> None:
        self._stopped = True
        self.drop_connections()
        if self._sock is not None:
            self._sock.close()


