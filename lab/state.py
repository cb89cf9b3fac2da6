"""A running lab VM's description, shared by every way of starting one.

`python -m lab up` and `manage.py lab up` both publish the VM they run in
<lab dir>/<name>.up.json, so `python -m lab status|down` find it whichever started it.
The file names the process that runs the VM by pid and start time, so a file left by a
killed process is recognised as stale rather than trusted.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lab import layout, topology
from lab.vm import LabVM


class AlreadyUp(RuntimeError):
    """Another live process already runs a lab VM under this name."""


def ssh_command(vm: LabVM, port: int | None = None) -> list[str]:
    """An OpenSSH command line into the guest (or a director namespace's port) with its key pinned."""
    return [
        "ssh", "-i", str(vm.key_path), "-p", str(port or vm.ssh_port), "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={layout.KNOWN_HOSTS}", "-o", f"HostKeyAlias={layout.KNOWN_HOSTS_ALIAS}",
        "-o", "StrictHostKeyChecking=yes", f"{vm.ssh_user}@{vm.ssh_host}",
    ]


def ssh_command_line(vm: LabVM, port: int | None = None) -> str:
    """ssh_command() quoted for pasting into a shell."""
    return shlex.join(ssh_command(vm, port))


def describe(vm: LabVM) -> dict[str, Any]:
    """What a person or another process needs to reach the running VM, as plain data."""
    key = str(vm.key_path)
    return {
        "name": vm.name,
        "ssh_host": vm.ssh_host,
        "ssh_port": vm.ssh_port,
        "ssh_user": vm.ssh_user,
        "key_path": key,
        "host_key": vm.host_key,
        "known_hosts": str(layout.KNOWN_HOSTS),
        "ssh_command": ssh_command(vm),
        # Loopback endpoints relayed to each real server's port 80 (HTTP checks only).
        "check_endpoints": {name: list(vm.check_endpoint(name)) for name in vm.check_ports},
        # The director pair (VRRP failover): each director's own sshd, same key pinned.
        "pair_directors": {name: {"ssh_port": port, "ssh_command": ssh_command(vm, port)}
                           for name, port in vm.director_ports.items()},
        "console_log": str(vm.console_path),
        "boot_seconds": round(vm.boot_seconds or 0.0, 1),
        "pid": os.getpid(),
        "pid_start_time": start_time(os.getpid()),
        "qemu_pid": vm.pid,
        "qemu_start_time": start_time(vm.pid) if vm.pid else None,
        "lab": topology.describe(),
    }


def start_time(pid: int) -> str | None:
    """pid's start time in clock ticks since boot: with the pid, names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def process_runs(pid: int | None, started: str | None) -> bool:
    """Whether that very process still runs (a pid alone may have been reused)."""
    return pid is not None and started is not None and start_time(pid) == started


def read(name: str) -> dict[str, Any] | None:
    """The description of the VM `name` if it runs: the process that published it and
    its QEMU both still alive (a killed QEMU under a live `up` is not a VM that is up)."""
    path = layout.state_path(name)
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    alive = process_runs(description.get("pid"), description.get("pid_start_time")) and \
        process_runs(description.get("qemu_pid"), description.get("qemu_start_time"))
    return description if alive else None


def running() -> list[dict[str, Any]]:
    """The descriptions of every lab VM up in this lab directory."""
    found = []
    for path in sorted(layout.LAB_DIR.glob("*.up.json")):
        description = read(path.name.removesuffix(".up.json"))
        if description is not None:
            found.append(description)
    return found


def not_up_reason(name: str) -> str:
    """Why `name` is not up, truthfully: where it was looked for, what is up instead."""
    others = [d["name"] for d in running() if d.get("name") != name]
    words = f"{name} is not up in {layout.LAB_DIR}"
    if others:
        words += f"; up there: {', '.join(others)} (--name)"
    else:
        words += " (LBADMIN_LAB_DIR names another lab directory; a VM a test session boots is not published)"
    return words


def ssh_argv(description: dict[str, Any], command: list[str] | None = None) -> list[str]:
    """The published OpenSSH command line (the guest's host key pinned), running `command`
    in the guest: its words joined with shlex.quote, so the guest's shell sees each one
    as given and interprets none."""
    argv = list(description["ssh_command"])
    return argv + [shlex.join(command)] if command else argv


def refuse_if_up(name: str) -> None:
    """Raise AlreadyUp when a live process runs the VM `name`: two would fight over the file."""
    running = read(name)
    if running is not None:
        raise AlreadyUp(f"{name} is already up (pid {running['pid']}); `python -m lab down --name {name}` first")


@contextmanager
def published(vm: LabVM) -> Iterator[dict[str, Any]]:
    """Write vm's description for the duration of the block; yields it."""
    layout.LAB_DIR.mkdir(parents=True, exist_ok=True)
    path = layout.state_path(vm.name)
    description = describe(vm)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(description, indent=2) + "\n")
    os.replace(tmp, path)  # a reader never sees half a file
    try:
        yield description
    finally:
        # Only our own file: a later `up` of the same name may have replaced it.
        current = read(vm.name)
        if current is None or current.get("pid") == os.getpid():
            path.unlink(missing_ok=True)
