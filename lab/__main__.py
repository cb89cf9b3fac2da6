"""The lab director from a shell.

    python -m tests.lab up [--port N] [--name NAME]   build if needed, boot, print how to
                                                      reach it (JSON), run until Ctrl-C
    python -m tests.lab down [--name NAME]            stop a VM that `up` started
    python -m tests.lab status [--name NAME]          its JSON again; exit 1 if not running
    python -m tests.lab build [--force]               only build the image

`up` writes its JSON to .lab/<name>.up.json as well, which is how `down` and `status`
find it. A VM never outlives the `up` process that started it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from tests.lab import build, layout, topology
from tests.lab.vm import LabBootError, LabVM


def _state_path(name: str) -> Path:
    return layout.LAB_DIR / f"{name}.up.json"


def _describe(vm: LabVM) -> dict[str, object]:
    key = str(vm.key_path)
    return {
        "name": vm.name,
        "ssh_host": vm.ssh_host,
        "ssh_port": vm.ssh_port,
        "ssh_user": vm.ssh_user,
        "key_path": key,
        "host_key": vm.host_key,
        "known_hosts": str(layout.KNOWN_HOSTS),
        "ssh_command": [
            "ssh", "-i", key, "-p", str(vm.ssh_port), "-o", "IdentitiesOnly=yes",
            "-o", f"HostKeyAlias={layout.KNOWN_HOSTS_ALIAS}",
            "-o", f"UserKnownHostsFile={layout.KNOWN_HOSTS}", "-o", "StrictHostKeyChecking=yes",
            f"{vm.ssh_user}@{vm.ssh_host}",
        ],
        # Loopback endpoints relayed to each real server's port 80 (HTTP checks only).
        "check_endpoints": {name: list(vm.check_endpoint(name)) for name in vm.check_ports},
        "console_log": str(vm.console_path),
        "boot_seconds": round(vm.boot_seconds or 0.0, 1),
        "pid": os.getpid(),
        "pid_start_time": _start_time(os.getpid()),
        "qemu_pid": vm.pid,
        "qemu_start_time": _start_time(vm.pid) if vm.pid else None,
        "lab": topology.describe(),
    }


def _start_time(pid: int) -> str | None:
    """pid's start time in clock ticks since boot: with the pid, names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def _process_runs(pid: int | None, start_time: str | None) -> bool:
    """Whether that very process still runs (a pid alone may have been reused)."""
    return pid is not None and start_time is not None and _start_time(pid) == start_time


def up(name: str, port: int | None) -> int:
    state = _state_path(name)
    if state.exists():
        previous = json.loads(state.read_text())
        if _process_runs(previous["pid"], previous["pid_start_time"]):
            print(f"lab: {name} is already up (pid {previous['pid']}); "
                  f"`python -m tests.lab down --name {name}` first", file=sys.stderr)
            return 1
    image = build.ensure_built(log=lambda line: print(line, file=sys.stderr, flush=True))
    vm = LabVM(name=name, image=image, ssh_port=port)
    print(f"lab: booting {name} under QEMU (TCG)...", file=sys.stderr, flush=True)
    try:
        vm.start()
    except LabBootError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    description = _describe(vm)
    state.write_text(json.dumps(description, indent=2) + "\n")
    print(json.dumps(description, indent=2), flush=True)
    print(f"lab: {name} is up; Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        while not stopping and vm.is_running():
            time.sleep(0.5)
    finally:
        died = not vm.is_running()
        vm.stop()
        state.unlink(missing_ok=True)
    if died and not stopping:
        print(f"lab: the VM exited on its own; console:\n{vm.console_tail()}", file=sys.stderr)
        return 1
    print(f"lab: {name} stopped", file=sys.stderr)
    return 0


def down(name: str) -> int:
    state = _state_path(name)
    if not state.exists():
        print(f"lab: {name} is not up", file=sys.stderr)
        return 0
    description = json.loads(state.read_text())
    up_process = description["pid"], description["pid_start_time"]
    qemu_process = description["qemu_pid"], description["qemu_start_time"]
    if _process_runs(*up_process):
        os.kill(up_process[0], signal.SIGTERM)  # `up` stops its VM and removes the state file
        deadline = time.monotonic() + 10
        while _process_runs(*up_process) and time.monotonic() < deadline:
            time.sleep(0.2)
    if _process_runs(*qemu_process):
        os.kill(qemu_process[0], signal.SIGKILL)
    state.unlink(missing_ok=True)
    print(f"lab: {name} stopped", file=sys.stderr)
    return 0


def status(name: str) -> int:
    state = _state_path(name)
    if state.exists():
        description = json.loads(state.read_text())
        if _process_runs(description["pid"], description["pid_start_time"]):
            print(json.dumps(description, indent=2))
            return 0
    print(f"lab: {name} is not up", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The lab director VM.")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="build if needed, boot, print JSON, run until Ctrl-C")
    up_parser.add_argument("--port", type=int, help="loopback port for SSH (default: a free one)")
    for command in (up_parser, commands.add_parser("down", help="stop a VM that `up` started"),
                    commands.add_parser("status", help="print the running VM's JSON")):
        command.add_argument("--name", default="lab", help="which VM (default: lab)")
    build_parser = commands.add_parser("build", help="only build the image")
    build_parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "up":
        return up(args.name, args.port)
    if args.command == "down":
        return down(args.name)
    if args.command == "status":
        return status(args.name)
    return build.main(["--force"] if args.force else [])


if __name__ == "__main__":
    sys.exit(main())
