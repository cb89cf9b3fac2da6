"""Where ipvsadm runs: on this host, or on a director over SSH.

Both executors take an argv whose first item is "ipvsadm" (Command.argv) and run the
configured ipvsadm with the rest, or one of the fixed scripts of scripts.py (keepalived's
file and process) with its values as arguments; they run nothing else, so an executor can
never be turned into a general remote shell. Failures become the IpvsError subclasses of
errors.py with messages an operator can act on.

- LocalExecutor: subprocess with an argv list (no shell), shutil.which, a timeout.
- SSHExecutor: paramiko with RejectPolicy and only the pinned host key; one connection
  reused across calls (reopened when it dropped); the remote command line is built
  with shlex.quote on every value; `ipvsadm -R` input goes through the channel's stdin.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from .errors import (
    CommandFailed, CommandTimeout, HostKeyMismatch, IpvsadmMissing, IpvsError, SSHAuthFailed,
    SSHRefused, classify_failure,
)
from .model import ServiceKey, Table
from .parse import parse_list
from .render import render_restore
from .scripts import IPVSADM_LISTINGS, LISTING_MARK, SCRIPTS, STATUS_MARK, Script

ListKind = Literal["list", "stats", "rate", "connections"]
_LIST_ARGS = {"list": ("-L", "-n", "--exact"),
              "stats": ("-L", "-n", "--exact", "--stats"),
              "rate": ("-L", "-n", "--exact", "--rate"),
              "connections": ("-L", "-n", "-c")}


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one ipvsadm run gave back."""
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


# ipvsadm's words (libipvs's ipvs_strerror) for a service the kernel does not hold.
_NO_SUCH_SERVICE = "No such service"


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing of a `listings` run: its ipvsadm argv, exit status and output. stderr is
    the whole run's (the script's listings share it)."""
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    where: str = "this host"

    def text(self) -> str:
        """The output, or the IpvsError that explains the failure."""
        if self.returncode != 0:
            raise classify_failure(self.argv, self.returncode, self.stderr, where=self.where)
        return self.stdout


@runtime_checkable
class Executor(Protocol):
    """What reconcile and the live view need from a director."""

    def run(self, argv: Sequence[str], stdin: str | None = None) -> RunResult:
        """Run ipvsadm (argv[0] must be "ipvsadm"); raise an IpvsError on failure."""
        ...

    def save(self) -> str:
        """`ipvsadm -S -n`."""
        ...

    def list_text(self, kind: ListKind = "list") -> str:
        """`ipvsadm -L -n --exact` [--stats | --rate], or `ipvsadm -L -n -c` (connections)."""
        ...

    def restore(self, lines: Iterable[object]) -> RunResult | None:
        """Feed command lines to `ipvsadm -R`; None when there was nothing to do."""
        ...

    def list_texts(self, kinds: Sequence[ListKind]) -> dict[str, str]:
        """Several list_text() listings in one run (over SSH, one round trip)."""
        ...

    def read_services(self, keys: Iterable[ServiceKey]) -> Table:
        """Only these services, as the kernel holds them (absent ones left out), in one run."""
        ...

    def run_script(self, script: Script, args: Sequence[str] = (), stdin: str | None = None) -> RunResult:
        """Run one of scripts.SCRIPTS with `args` as "$1", "$2" ...; raise an IpvsError on failure."""
        ...

    def close(self) -> None:
        ...


def _check_script(script: Script, args: Sequence[str]) -> list[str]:
    if not any(script is known for known in SCRIPTS):
        raise ValueError(f"an executor only runs lbadmin's own scripts, not {script!r}")
    args = list(args)
    if not all(isinstance(a, str) and "\0" not in a for a in args):
        raise TypeError("script arguments must be str without NUL")
    return args


class _IpvsadmCalls:
    """save/list_text/restore on top of a run() that subclasses provide."""

    def run(self, argv: Sequence[str], stdin: str | None = None) -> RunResult:
        raise NotImplementedError

    def save(self) -> str:
        return self.run(["ipvsadm", "-S", "-n"]).stdout

    def list_text(self, kind: ListKind = "list") -> str:
        if kind not in _LIST_ARGS:
            raise ValueError(f"kind must be one of {sorted(_LIST_ARGS)}, got {kind!r}")
        return self.run(["ipvsadm", *_LIST_ARGS[kind]]).stdout

    def listings(self, requests: Sequence[Sequence[str]]) -> list[Listing]:
        """Several ipvsadm listings (argvs without "ipvsadm") in one run of the
        IPVSADM_LISTINGS script: over SSH one round trip, however many there are."""
        requests = [list(r) for r in requests]
        if not requests:
            return []
        for request in requests:
            if not request or not all(isinstance(a, str) and a and not any(c.isspace() for c in a)
                                      for a in request):
                raise ValueError(f"a listing's arguments are words without whitespace, got {request!r}")
        result = self.run_script(IPVSADM_LISTINGS, [self._ipvsadm_program(), *(" ".join(r) for r in requests)])
        outputs = _split_listings(result, len(requests))
        return [Listing(["ipvsadm", *request], code, text, result.stderr, self._where())
                for request, (code, text) in zip(requests, outputs)]

    def list_texts(self, kinds: Sequence[ListKind]) -> dict[str, str]:
        for kind in kinds:
            if kind not in _LIST_ARGS:
                raise ValueError(f"kind must be one of {sorted(_LIST_ARGS)}, got {kind!r}")
        done = self.listings([_LIST_ARGS[kind] for kind in kinds])
        return {kind: listing.text() for kind, listing in zip(kinds, done)}

    def read_services(self, keys: Iterable[ServiceKey]) -> Table:
        keys = sorted(set(keys), key=ServiceKey.sort_key)
        services = []
        for listing in self.listings([(*_LIST_ARGS["list"], *key.options) for key in keys]):
            if listing.returncode != 0 and _only_no_such_service(listing.stderr):
                continue  # not in the kernel: that is the answer
            services.extend(parse_list(listing.text()).table.values())
        return Table(services)

    def _ipvsadm_program(self) -> str:
        raise NotImplementedError

    def _where(self) -> str:
        return "this host"

    def restore(self, lines: Iterable[object]) -> RunResult | None:
        """Run the batch through `ipvsadm -R`.

        ipvsadm -R reports a refused line on stderr and carries on, and its exit status
        is the last line's, so any stderr output counts as a failure here.
        """
        text = render_restore(lines)
        if not text:
            return None
        argv = ["ipvsadm", "-R"]
        result = self.run(argv, stdin=text)
        if result.stderr.strip():
            raise classify_failure(result.argv, result.returncode, result.stderr)
        return result

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _split_listings(result: RunResult, count: int) -> list[tuple[int, str]]:
    """(exit status, output) per listing from IPVSADM_LISTINGS's stdout."""
    outputs: list[tuple[int, str]] = []
    lines: list[str] | None = None
    for line in result.stdout.splitlines(keepends=True):
        if line.rstrip("\n") == LISTING_MARK:
            lines = []
        elif line.startswith(STATUS_MARK + " ") and lines is not None:
            outputs.append((int(line.split()[-1]), "".join(lines)))
            lines = None
        elif lines is not None:
            lines.append(line)
    if len(outputs) != count:
        raise IpvsError(f"the listings script gave {len(outputs)} listing(s) of {count}: output cut short? "
                        f"(stdout {result.stdout[:200]!r}, stderr {result.stderr[:200]!r})")
    return outputs


def _only_no_such_service(stderr: str) -> bool:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(line == _NO_SUCH_SERVICE for line in lines)


def _check_argv(argv: Sequence[str]) -> list[str]:
    argv = list(argv)
    if not argv or argv[0] != "ipvsadm":
        raise ValueError(f"an executor only runs ipvsadm; argv must start with 'ipvsadm', got {argv[:1]}")
    if not all(isinstance(a, str) for a in argv):
        raise TypeError("argv items must be str")
    return argv


class LocalExecutor(_IpvsadmCalls):
    """ipvsadm on this host, through subprocess (argv list, no shell, timeout)."""

    def __init__(self, ipvsadm: str = "ipvsadm", timeout: float = 30):
        self.ipvsadm = ipvsadm
        self.timeout = timeout

    def _program(self) -> str:
        # Resolved on every run, so installing ipvsadm later needs no restart.
        found = shutil.which(self.ipvsadm)
        if found is None:
            raise IpvsadmMissing(self.ipvsadm)
        return found

    def run(self, argv: Sequence[str], stdin: str | None = None) -> RunResult:
        argv = _check_argv(argv)
        return self._spawn([self._program(), *argv[1:]], stdin, list(argv))

    _ipvsadm_program = _program

    def run_script(self, script: Script, args: Sequence[str] = (), stdin: str | None = None) -> RunResult:
        args = _check_script(script, args)
        return self._spawn(["/bin/sh", "-c", script.text, "lbadmin", *args], stdin, [script.name, *args])

    def _spawn(self, real: list[str], stdin: str | None, shown: list[str]) -> RunResult:
        # C locale: strerror() texts that ipvsadm falls back on are matched in English.
        env = {**os.environ, "LC_ALL": "C"}
        started = time.monotonic()
        try:
            done = subprocess.run(real, input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(real, self.timeout) from None
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            raise IpvsadmMissing(self.ipvsadm) from None
        result = RunResult(real, done.returncode, done.stdout, done.stderr,
                           time.monotonic() - started)
        if done.returncode != 0:
            raise classify_failure(real if shown[0] == "ipvsadm" else shown, done.returncode, done.stderr)
        return result


# ---------------------------------------------------------------------------
# SSH
# ---------------------------------------------------------------------------

def parse_host_key(line: str):
    """A paramiko PKey from an OpenSSH public key line ("ssh-ed25519 AAAA... [comment]").

    A known_hosts line ("host ssh-ed25519 AAAA...") is accepted too.
    """
    import paramiko

    words = (line or "").split()
    if words and not _looks_like_key_type(words[0]) and len(words) >= 3:
        words = words[1:]   # known_hosts form: drop the host names
    if len(words) < 2:
        raise ValueError("a host key is 'KEYTYPE BASE64' (as in known_hosts)")
    key_type, data = words[0], words[1]
    try:
        blob = base64.b64decode(data, validate=True)
        return paramiko.PKey.from_type_string(key_type, blob)
    except Exception as exc:   # binascii.Error, SSHException, UnknownKeyType...
        raise ValueError(f"not a valid {key_type} public key: {exc}") from None


def _looks_like_key_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-", "sk-", "rsa-"))


def fingerprint(key) -> str:
    """OpenSSH's SHA256 fingerprint ("SHA256:...") of a paramiko key or a key line."""
    if isinstance(key, str):
        key = parse_host_key(key)
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def scan_host_key(host: str, port: int = 22, timeout: float = 10,
                  key_type: str | None = None) -> str:
    """The host key a server offers, as "KEYTYPE BASE64", for an admin to pin.

    This trusts nothing: it only reads the key so that it can be shown with its
    fingerprint and pinned by an explicit action.
    """
    import paramiko

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise SSHRefused(host, port, _reason(exc)) from None
    transport = paramiko.Transport(sock)
    try:
        if key_type:
            transport.get_security_options().key_types = [key_type]
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except paramiko.SSHException as exc:
        raise SSHRefused(host, port, f"no SSH handshake ({exc})") from None
    finally:
        transport.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is sshd running on that port?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out (host down or filtered)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc})"
    return str(exc) or type(exc).__name__


class SSHExecutor(_IpvsadmCalls):
    """ipvsadm on a director over SSH, with a pinned host key and one reused connection."""

    def __init__(self, host: str, port: int = 22, user: str = "root",
                 key_path: str = "", host_key: str = "", timeout: float = 30,
                 ipvsadm: str = "ipvsadm"):
        self.host, self.port, self.user = host, port, user
        self.key_path = key_path
        self.timeout = timeout
        self.ipvsadm = ipvsadm
        self._host_key = parse_host_key(host_key)
        self._client = None
        self._lock = threading.Lock()
        self.connections_opened = 0   # how often a connection was (re)made

    # -- connection --------------------------------------------------------

    def _known_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def _connect(self):
        import paramiko

        offered: list = []

        class _Pinned(paramiko.RejectPolicy):
            """RejectPolicy that remembers which key it rejected, for the message."""

            def missing_host_key(self, client, hostname, key):
                offered.append(key)
                super().missing_host_key(client, hostname, key)

        try:
            pkey = paramiko.PKey.from_path(self.key_path)
        except Exception as exc:
            raise SSHAuthFailed(self.host, self.port, self.user,
                                f"cannot load the private key {self.key_path!r}: {exc}") from None
        client = paramiko.SSHClient()
        # Only the pinned key: no ~/.ssh/known_hosts, no system keys.
        client.get_host_keys().add(self._known_name(), self._host_key.get_name(), self._host_key)
        client.set_missing_host_key_policy(_Pinned())
        expected = fingerprint(self._host_key)
        try:
            client.connect(self.host, port=self.port, username=self.user, pkey=pkey,
                           allow_agent=False, look_for_keys=False, timeout=self.timeout,
                           banner_timeout=self.timeout, auth_timeout=self.timeout)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyMismatch(self.host, self.port, expected, fingerprint(exc.key)) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SSHAuthFailed(self.host, self.port, self.user, str(exc) or "key refused") from None
        except paramiko.SSHException as exc:
            client.close()
            if offered:   # the server has no key of the pinned type
                raise HostKeyMismatch(self.host, self.port, expected,
                                      f"{offered[0].get_name()} {fingerprint(offered[0])}") from None
            raise SSHRefused(self.host, self.port, f"SSH handshake failed ({exc})") from None
        except OSError as exc:   # refused, unreachable, timeout, NoValidConnectionsError
            client.close()
            # NoValidConnectionsError wraps one error per address tried; show the first.
            inner = next(iter(getattr(exc, "errors", {}).values()), exc)
            raise SSHRefused(self.host, self.port, _reason(inner)) from None
        self.connections_opened += 1
        return client

    def _transport(self):
        client = self._client
        if client is not None:
            transport = client.get_transport()
            if transport is not None and transport.is_active():
                return transport
            client.close()
            self._client = None
        self._client = self._connect()
        return self._client.get_transport()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- commands ----------------------------------------------------------

    def _ipvsadm_program(self) -> str:
        return self.ipvsadm

    def _where(self) -> str:
        return self.host

    def command_line(self, argv: Sequence[str]) -> str:
        """The remote command string: every value shell-quoted."""
        argv = _check_argv(argv)
        return " ".join(shlex.quote(a) for a in [self.ipvsadm, *argv[1:]])

    def run(self, argv: Sequence[str], stdin: str | None = None) -> RunResult:
        """Run ipvsadm on the director. Calls from several threads take turns.

        On a timeout the channel is closed; sshd then closes the program's pipes, but
        a program that ignores that may run on, so the timeout is an upper bound on
        our wait, not on the remote work.
        """
        return self._remote(self.command_line(argv), [self.ipvsadm, *list(argv)[1:]], stdin)

    def run_script(self, script: Script, args: Sequence[str] = (), stdin: str | None = None) -> RunResult:
        args = _check_script(script, args)
        command = " ".join(shlex.quote(a) for a in ["sh", "-c", script.text, "lbadmin", *args])
        return self._remote(command, [script.name, *args], stdin)

    def _remote(self, command: str, shown: list[str], stdin: str | None) -> RunResult:
        import paramiko

        with self._lock:
            started = time.monotonic()
            try:
                channel = self._transport().open_session(timeout=self.timeout)
            except (paramiko.SSHException, EOFError, OSError):
                # The connection dropped since the last call: open a new one, once.
                # Nothing ran yet, so retrying cannot run a command twice.
                if self._client is not None:
                    self._client.close()
                    self._client = None
                try:
                    channel = self._transport().open_session(timeout=self.timeout)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    raise SSHRefused(self.host, self.port, f"cannot open a channel ({exc})") from None
            try:
                code, out, err = self._exchange(channel, command, stdin, shown, started)
            finally:
                channel.close()
        result = RunResult(shown, code, out, err, time.monotonic() - started)
        if code != 0:
            raise classify_failure(shown, code, err, where=self.host)
        return result

    def _exchange(self, channel, command: str, stdin: str | None, shown: list[str],
                  started: float) -> tuple[int, str, str]:
        deadline = started + self.timeout
        channel.settimeout(self.timeout)
        try:
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin.encode())
            channel.shutdown_write()   # EOF: ipvsadm -R stops reading
        except (socket.timeout, TimeoutError):
            raise CommandTimeout(shown, self.timeout) from None
        out, err = bytearray(), bytearray()
        while True:
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            # sshd may send the exit status before the last of the output (OpenSSH does
            # when the program exits with data still in its pipe): done only at EOF too.
            if channel.exit_status_ready() and channel.eof_received and not channel.recv_ready() \
                    and not channel.recv_stderr_ready():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(shown, self.timeout)
            readable, _, _ = select.select([channel], [], [], min(remaining, 0.5))
            if readable and not channel.recv_ready() and not channel.recv_stderr_ready():
                # EOF keeps the channel readable; the exit status may still be on its way.
                channel.status_event.wait(min(remaining, 0.5))
        code = channel.recv_exit_status()
        return code, out.decode(errors="replace"), err.decode(errors="replace")


__all__ = [
    "Executor", "IpvsError", "ListKind", "Listing", "LocalExecutor", "RunResult", "SSHExecutor",
    "CommandFailed", "fingerprint", "parse_host_key", "scan_host_key",
]
