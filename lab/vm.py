"""LabVM: boot the lab director under QEMU and drive it over SSH.

    vm = LabVM()
    vm.start()                      # builds the image first if needed
    rc, out, err = vm.run(["ipvsadm", "-R"], input="-A -t 10.20.0.100:80 -s rr\n")
    vm.http_from_client("10.20.0.100", 80, 4)   # ['rs1', 'rs2', 'rs1', 'rs2']
    vm.stop()                       # a hard kill: the director just dies

The guest is reached only through QEMU's user-mode network on a loopback port forwarded
to its sshd; the guest itself has no route out (restrict=on). SSH uses paramiko with
RejectPolicy and the guest's host key pinned, as lbadmin does for real directors.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import select
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from lab import layout, topology
from lab.services import free_port
from lab.build import LabImage, ensure_built
from lab.pair import DirectorPair

QEMU = "qemu-system-x86_64"
KERNEL_ARGS = (
    "console=ttyS0",
    "panic=-1",  # a panic reboots, and -no-reboot turns that into QEMU exiting: fails fast
    "quiet",  # every console line costs time under TCG; dmesg still has them all
    "cryptomgr.notests",  # crypto self-tests are slow under TCG and prove nothing here
    # Two more self-tests that cryptomgr.notests does not cover, about 1.4 s under TCG.
    "initcall_blacklist=crypto_kdf108_init,jent_mod_init",
    "tsc=reliable",  # no clocksource watchdog delay
)
# Printed by the guest's /etc/lab/boot.sh when the lab is built; sshd starts next.
READY_MARKER = b"] ready"


class LabBootError(RuntimeError):
    """The VM did not come up; the message ends with the console's last lines."""


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: QEMU gets SIGKILL if the process that started it dies, so a killed
    # test run leaves no VM behind.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _ssh_quote(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(arg)) for arg in argv)


class LabVM(DirectorPair):
    """One lab director VM. Several may run at once, each with its own name.

    The guest also holds the director pair (dirA, dirB) for VRRP failover: see lab/pair.py.
    """

    ssh_host = "127.0.0.1"
    ssh_user = "root"

    def __init__(self, name: str = "lab", memory_mb: int = 512, boot_timeout: float = 90.0,
                 image: LabImage | None = None, ssh_port: int | None = None) -> None:
        """ssh_port: the loopback port to forward to the guest's sshd (default: a free one)."""
        self.name = name
        self.memory_mb = memory_mb
        self.boot_timeout = boot_timeout
        self._image = image
        self._fixed_port = ssh_port is not None
        self.ssh_port: int | None = ssh_port
        # Real server name -> loopback port forwarded to its health-check forwarder in the
        # guest (topology.CHECK_FORWARD_PORTS). Chosen at the first boot and kept by
        # restart(), so RealServer rows that point there stay valid.
        self.check_ports: dict[str, int] = {}
        # Pair director name -> loopback port forwarded to its sshd; kept by restart() too.
        self.director_ports: dict[str, int] = {}
        self._director_clients: dict[str, paramiko.SSHClient] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._client: paramiko.SSHClient | None = None
        prefix = "" if name == "lab" else f"{name}-"
        self.console_path = layout.LAB_DIR / f"{prefix}console.log"
        self.qemu_log_path = layout.LAB_DIR / f"{prefix}qemu.log"
        self.boot_seconds: float | None = None  # QEMU start to SSH login, last boot
        self._stop_registered = False

    # -- what callers pin and log in with ---------------------------------------------------

    @property
    def image(self) -> LabImage:
        if self._image is None:
            self._image = ensure_built(log=lambda line: None)
        return self._image

    @property
    def key_path(self) -> Path:
        return self.image.client_key

    @property
    def host_key(self) -> str:
        """The guest's host key, 'ssh-ed25519 AAAA...': what a Director record pins."""
        return self.image.host_key

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Boot and wait until SSH answers with the pinned key (raises LabBootError)."""
        if self.is_running():
            return
        if shutil.which(QEMU) is None:
            raise LabBootError(f"{QEMU} is not installed: apt-get install -y qemu-system-x86")
        image = self.image
        began = time.monotonic()
        for attempt in range(3):
            port = self.ssh_port or free_port()
            if not self.check_ports:
                self.check_ports = {name: free_port() for name in topology.CHECK_FORWARD_PORTS}
            if not self.director_ports:
                self.director_ports = {name: free_port() for name in topology.PAIR_DIRECTORS}
            self._spawn(image, port)
            try:
                self._wait_for_ssh(began)
                break
            except _PortTaken:
                if self._fixed_port:
                    raise LabBootError(f"port {port} on {self.ssh_host} is already in use") from None
                # Another process took a port between our probe and QEMU's bind.
                self.ssh_port = None
                self.check_ports = {}
                self.director_ports = {}
                if attempt == 2:
                    raise LabBootError(f"could not forward a loopback port:\n{self.console_tail()}")
        self.boot_seconds = time.monotonic() - began
        if not self._stop_registered:
            atexit.register(self.stop)  # PR_SET_PDEATHSIG covers a hard kill; this a normal exit
            self._stop_registered = True

    def stop(self) -> None:
        """Kill QEMU at once (SIGKILL): to the rest of the system the director just died."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._forget_director_clients()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        """Kill and boot again on the same SSH port, so a registered Director stays valid."""
        self.stop()
        self.start()

    def __enter__(self) -> LabVM:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, image: LabImage, port: int) -> None:
        self.ssh_port = port
        layout.LAB_DIR.mkdir(parents=True, exist_ok=True)
        self.console_path.unlink(missing_ok=True)
        argv = [
            QEMU, "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", str(self.memory_mb),
            "-nodefaults", "-no-user-config", "-nographic", "-monitor", "none",
            "-serial", f"file:{self.console_path}", "-no-reboot",
            "-kernel", str(image.kernel), "-initrd", str(image.initramfs),
            "-append", " ".join(KERNEL_ARGS),
            # -nic user,model=virtio-net-pci,... spelled out so that romfile= can drop the
            # iPXE boot ROM, which only costs boot time here.
            "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:{self.ssh_host}:{port}-:22"
                       + "".join(f",hostfwd=tcp:{self.ssh_host}:{host_port}-:{topology.CHECK_FORWARD_PORTS[name]}"
                                 for name, host_port in self.check_ports.items())
                       + "".join(f",hostfwd=tcp:{self.ssh_host}:{host_port}-:{topology.PAIR_DIRECTORS[name].guest_ssh_port}"
                                 for name, host_port in self.director_ports.items()),
            "-device", "virtio-net-pci,netdev=net0,romfile=",
        ]
        with open(self.qemu_log_path, "wb") as qemu_log:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_log,
                                             stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def _wait_for_ssh(self, began: float) -> None:
        deadline = began + self.boot_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                qemu_log = self.qemu_log_path.read_text(errors="replace")
                if "Could not set up host forwarding rule" in qemu_log:
                    raise _PortTaken()
                raise LabBootError(f"QEMU exited with {self._process.returncode}: {qemu_log.strip()}\n"
                                   f"console:\n{self.console_tail()}")
            # QEMU's user network accepts on the forwarded port before the guest listens and
            # then drops the connection, so only the SSH banner means sshd is up. Probing
            # starts once the boot script says the lab is ready (sshd starts right after).
            if self._console_says_ready() and self._banner_answers(deadline):
                try:
                    self._client = self.connect()
                    return
                except (paramiko.SSHException, OSError):
                    pass
            time.sleep(0.2)
        self.stop()
        raise LabBootError(f"no SSH on {self.ssh_host}:{self.ssh_port} within {self.boot_timeout:.0f} s;"
                           f" console:\n{self.console_tail()}")

    def _console_says_ready(self) -> bool:
        try:
            return READY_MARKER in self.console_path.read_bytes()
        except FileNotFoundError:
            return False

    def _banner_answers(self, deadline: float) -> bool:
        # A patient read: under TCG on a busy host sshd can take seconds to send its banner,
        # and a probe that gives up sooner would never see it.
        try:
            with socket.create_connection((self.ssh_host, self.ssh_port), timeout=2) as sock:
                sock.settimeout(max(1.0, min(15.0, deadline - time.monotonic())))
                return sock.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.console_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no console output)"
        return "\n".join(text.splitlines()[-lines:])

    # -- SSH ------------------------------------------------------------------------------------

    def connect(self, host_key: str | None = None, timeout: float = 10.0,
                port: int | None = None) -> paramiko.SSHClient:
        """A new SSH client logged in as root, with host_key (default: the guest's) pinned.

        port: another forwarded sshd (a pair director's); default the guest's own.
        A different pinned key raises paramiko.BadHostKeyException; RejectPolicy refuses
        any host that has no pinned key.
        """
        port = port or self.ssh_port
        key_type, key_data = (host_key or self.host_key).split()[:2]
        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[{self.ssh_host}]:{port}", key_type,
                                   paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data)))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.ssh_host, port=port, username=self.ssh_user,
                       key_filename=str(self.key_path), timeout=timeout, banner_timeout=timeout,
                       auth_timeout=timeout, allow_agent=False, look_for_keys=False)
        return client

    def _ssh(self) -> paramiko.SSHClient:
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            if not self.is_running():
                raise LabBootError("the lab VM is not running")
            self._client = self.connect()
        assert self._client is not None
        return self._client

    def run(self, cmd: Sequence[str], input: str | bytes | None = None,
            timeout: float = 60.0) -> tuple[int, str, str]:
        """Run argv in the guest (each word shlex-quoted); returns (exit code, stdout, stderr)."""
        return self._execute(self._ssh(), cmd, input, timeout)

    @staticmethod
    def _execute(client: paramiko.SSHClient, cmd: Sequence[str], input: str | bytes | None,
                 timeout: float) -> tuple[int, str, str]:
        channel = client.get_transport().open_session(timeout=timeout)  # type: ignore[union-attr]
        try:
            channel.settimeout(timeout)
            channel.exec_command(_ssh_quote(cmd))
            if input is not None:
                channel.sendall(input.encode() if isinstance(input, str) else input)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            # Read both streams as they come: a full stderr window must not stall stdout.
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif channel.exit_status_ready() and not channel.recv_ready() \
                        and not channel.recv_stderr_ready() and channel.eof_received:
                    break
                else:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{_ssh_quote(cmd)} did not finish within {timeout} s")
                    select.select([channel], [], [], 0.1)
            return channel.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
        finally:
            channel.close()

    def check(self, cmd: Sequence[str], input: str | bytes | None = None, timeout: float = 60.0) -> str:
        """run(), but a non-zero exit raises RuntimeError; returns stdout."""
        rc, out, err = self.run(cmd, input=input, timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"{_ssh_quote(cmd)} exited {rc}: {err.strip() or out.strip()}")
        return out

    # -- lab helpers ----------------------------------------------------------------------------

    def ipvsadm_save(self) -> str:
        """The kernel table as `ipvsadm -S -n` prints it."""
        return self.check(["ipvsadm", "-S", "-n"])

    def ipvsadm_restore(self, rules: str) -> None:
        """Feed rules to `ipvsadm -R` on stdin, as lbadmin's executor does."""
        self.check(["ipvsadm", "-R"], input=rules)

    def check_endpoint(self, rs_name: str) -> tuple[str, int]:
        """(host, port) on the host's loopback where real server rs_name's port 80 answers.

        The connection goes through QEMU's port forward to a forwarder in the guest
        (lab/guest/usr/local/bin/lab-forward), which relays it to the real server:
        what a RealServer's check_address/check_port should hold in tests. The forwarder
        accepts every connection whether or not the real server is up, so check through
        it with HTTP (a response, or its absence), never with a bare TCP connect.
        """
        if rs_name not in topology.CHECK_FORWARD_PORTS:
            raise KeyError(f"no lab real server named {rs_name!r}")
        if not self.check_ports:
            raise LabBootError("the lab VM has not been started")
        return self.ssh_host, self.check_ports[rs_name]

    def rs_stop(self, name: str) -> None:
        """Stop real server name's web server (it then refuses connections)."""
        self.check(["lab-rs", "stop", name])

    def rs_start(self, name: str) -> None:
        self.check(["lab-rs", "start", name])

    def reset(self) -> None:
        """Empty the IPVS table and start every real server: the state right after boot."""
        self.check(["lab-reset"])

    def run_in_namespace(self, namespace: str, cmd: Sequence[str], input: str | bytes | None = None,
                         timeout: float = 60.0) -> tuple[int, str, str]:
        """run() inside one of the lab's network namespaces (client, rs1, ...)."""
        return self.run(["nsenter", f"--net=/run/netns/{namespace}", "--", *cmd], input=input, timeout=timeout)

    def http_from_client(self, vip: str, port: int = topology.HTTP_PORT, n: int = 1,
                         path: str = "/", timeout: int = 2) -> list[str | None]:
        """GET http://vip:port/path n times, one after another, from the client namespace.

        Returns each response's body without surrounding whitespace (a real server answers
        with its name), or None where the request failed (refused, timed out, not 2xx).
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        host = f"[{vip}]" if ":" in vip else vip
        url = f"http://{host}:{int(port)}{path}"
        # One SSH command and one namespace entry for all n requests; markers delimit bodies.
        # `timeout` rather than wget's own -T, which segfaults in Debian 12's busybox.
        script = (
            f"i=0; while [ $i -lt {int(n)} ]; do i=$((i+1)); "
            f"if body=$(timeout {int(timeout)} busybox wget -q -O - {shlex.quote(url)} 2>/dev/null); "
            "then printf '%s\\n%s\\n%s\\n' '<<<ok' \"$body\" '>>>'; "
            "else printf '%s\\n' '<<<failed'; fi; done"
        )
        rc, out, err = self.run_in_namespace(topology.CLIENT_NAMESPACE, ["sh", "-c", script],
                                             timeout=n * (timeout + 5) + 10)
        if rc != 0:
            raise RuntimeError(f"http_from_client failed ({rc}): {err.strip()}")
        return _parse_bodies(out)


def _parse_bodies(out: str) -> list[str | None]:
    results: list[str | None] = []
    body: list[str] | None = None
    for line in out.splitlines():
        if body is not None:
            if line == ">>>":
                results.append("\n".join(body).strip())
                body = None
            else:
                body.append(line)
        elif line == "<<<failed":
            results.append(None)
        elif line == "<<<ok":
            body = []
    return results


class _PortTaken(Exception):
    pass
