"""The director pair in the lab guest (dirA, dirB: lab/topology.py), as LabVM methods.

Each pair director is reached over its own SSH port on the host's loopback, relayed to
an sshd inside its namespaces (lab/guest/usr/local/bin/lab-director), with the same pinned
host key as the guest: what lbadmin gets for two real directors. Killing and reviving a
director, and probing a VIP from the pair's client, are done from the guest's root
namespace over the guest's own SSH.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paramiko

from lab import topology
from lab.probe import ProbeLine, parse_probe

PROBE_MODES = ("http", "hold")


@dataclass(frozen=True)
class Probe:
    """A lab-probe running in the background in the pair's client namespace."""
    pid: int
    output: str  # its output file in the guest
    duration_s: float
    started: float  # host monotonic time when it was started


class DirectorPair:
    """Mixed into LabVM: needs its ssh_host, run(), connect() and _execute()."""

    # Director name -> loopback port on the host forwarded to its sshd's guest port.
    director_ports: dict[str, int]
    _director_clients: dict[str, paramiko.SSHClient]

    def director_endpoint(self, name: str) -> tuple[str, int]:
        """(host, port) where director name's sshd answers: a Director record's address."""
        if name not in topology.PAIR_DIRECTORS:
            raise KeyError(f"no pair director named {name!r}")
        return self.ssh_host, self.director_ports[name]  # type: ignore[attr-defined]

    def connect_director(self, name: str, host_key: str | None = None,
                         timeout: float = 20.0) -> paramiko.SSHClient:
        """A new SSH client logged in to director name, its host key pinned (RejectPolicy)."""
        return self.connect(host_key=host_key, timeout=timeout,  # type: ignore[attr-defined]
                            port=self.director_endpoint(name)[1])

    def run_on_director(self, name: str, cmd: Sequence[str], input: str | bytes | None = None,
                        timeout: float = 60.0) -> tuple[int, str, str]:
        """run(), but over director name's own SSH: in its network and mount namespaces."""
        client = self._director_clients.get(name)
        transport = client.get_transport() if client else None
        if transport is None or not transport.is_active():
            client = self._director_clients[name] = self.connect_director(name)
        return self._execute(client, cmd, input, timeout)  # type: ignore[attr-defined]

    def check_on_director(self, name: str, cmd: Sequence[str], input: str | bytes | None = None,
                          timeout: float = 60.0) -> str:
        rc, out, err = self.run_on_director(name, cmd, input=input, timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"{name}: {shlex.join(cmd)} exited {rc}: {err.strip() or out.strip()}")
        return out

    def write_director_file(self, name: str, path: str, text: str) -> None:
        """Write a file as that director sees it (e.g. topology.KEEPALIVED_CONF)."""
        self.check_on_director(name, ["sh", "-c", f"cat > {shlex.quote(path)}"], input=text)

    def _forget_director_clients(self, *names: str) -> None:
        for name in names or list(self._director_clients):
            client = self._director_clients.pop(name, None)
            if client is not None:
                client.close()

    # -- life and death ------------------------------------------------------------------------

    def kill_director(self, name: str) -> None:
        """The director dies: SIGKILL of everything in its namespace (keepalived, sshd, SSH
        sessions) and its link down, so it leaves the segment with any VIP it held. Its
        IPVS table and sync daemon stay in the kernel, unreachable, until revive."""
        self._forget_director_clients(name)
        self.check(["lab-director", "kill", name])  # type: ignore[attr-defined]

    def revive_director(self, name: str) -> None:
        """The director boots again: its own address only, link up, an empty IPVS table, no
        sync daemon, its sshd; keepalived starts (as an enabled service would at boot) if
        /etc/keepalived/keepalived.conf exists in its view. lbadmin reapplies the table."""
        self._forget_director_clients(name)
        self.check(["lab-director", "start", name])  # type: ignore[attr-defined]

    def reset_pair(self) -> None:
        """Both directors as after boot, with no keepalived configuration."""
        self._forget_director_clients()
        self.check(["lab-director", "reset"])  # type: ignore[attr-defined]

    def pair_addresses(self) -> dict[str, tuple[bool, list[str]]]:
        """Director name -> (on the segment, IPv4 addresses on its eth0 without prefix)."""
        shown = {}
        for line in self.check(["lab-director", "show"]).splitlines():  # type: ignore[attr-defined]
            name, state, *addresses = line.split()
            shown[name] = (state == "up", [a.split("/")[0] for a in addresses])
        return shown

    def vip_holders(self, vip: str) -> list[str]:
        """The directors on the segment that hold vip (one, when VRRP works)."""
        return [name for name, (up, addresses) in self.pair_addresses().items() if up and vip in addresses]

    def wait_for_vip_holders(self, vip: str, count: int = 1, timeout: float = 10.0,
                             exclude: Sequence[str] = ()) -> tuple[list[str], float]:
        """Poll until exactly count directors (none in exclude) hold vip; (holders, seconds)."""
        began = time.monotonic()
        while True:
            holders = self.vip_holders(vip)
            if len(holders) == count and not set(holders) & set(exclude):
                return holders, time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"{vip}: holders {holders} after {timeout} s")
            time.sleep(0.05)

    # -- probing from the pair's client ---------------------------------------------------------

    def start_probe(self, mode: str, vip: str, port: int, interval_ms: int, duration_s: int,
                    timeout_ms: int | None = None) -> Probe:
        """Start lab-probe in the pair's client namespace, in the background (see lab-probe.c)."""
        if mode not in PROBE_MODES:
            raise ValueError(f"mode must be one of {PROBE_MODES}")
        argv = ["nsenter", f"--net=/run/netns/{topology.PAIR_CLIENT.name}", "lab-probe", mode, vip,
                str(int(port)), str(int(interval_ms)), str(int(duration_s))]
        if timeout_ms is not None:
            argv.append(str(int(timeout_ms)))
        output = f"/run/lab/probe-{time.monotonic_ns()}.out"
        script = f"{shlex.join(argv)} </dev/null >{shlex.quote(output)} 2>&1 & echo $!"
        pid = int(self.check(["sh", "-c", script]).strip())  # type: ignore[attr-defined]
        return Probe(pid, output, float(duration_s), time.monotonic())

    def wait_for_probe_lines(self, probe: Probe, count: int, timeout: float = 20.0) -> None:
        """Wait until the probe has written count lines (it is under way and has answers)."""
        deadline = time.monotonic() + timeout
        while True:
            rc, out, _ = self.run(["sh", "-c", f"wc -l < {shlex.quote(probe.output)}"])  # type: ignore[attr-defined]
            if rc == 0 and out.strip().isdigit() and int(out) >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"lab-probe wrote {out.strip() or 'no'} lines in {timeout} s")
            time.sleep(0.1)

    def probe_results(self, probe: Probe, slack: float = 15.0) -> list[ProbeLine]:
        """Wait for the probe to finish and return its lines."""
        deadline = probe.started + probe.duration_s + slack
        while self.run(["kill", "-0", str(probe.pid)])[0] == 0:  # type: ignore[attr-defined]
            if time.monotonic() > deadline:
                self.run(["kill", "-9", str(probe.pid)])  # type: ignore[attr-defined]
                break
            time.sleep(0.2)
        out = self.check(["cat", probe.output])  # type: ignore[attr-defined]
        self.run(["rm", "-f", probe.output])  # type: ignore[attr-defined]
        return parse_probe(out)
