"""The lab director from a shell.

    python -m lab up [--port N] [--name NAME]   build if needed, boot, print how to reach
                                                it (JSON), run until Ctrl-C
    python -m lab down [--name NAME]            stop a VM that `up` started
    python -m lab status [--name NAME]          its JSON again; exit 1 if not running
    python -m lab build [--force]               only build the image

`up` (this one or `manage.py lab up`) writes its JSON to <lab dir>/<name>.up.json as
well, which is how `down` and `status` find it (lab/state.py). A VM never outlives the
`up` process that started it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from lab import build, layout, state
from lab.vm import LabBootError, LabVM


def up(name: str, port: int | None) -> int:
    try:
        state.refuse_if_up(name)
    except state.AlreadyUp as exc:
        print(f"lab: {exc}", file=sys.stderr)
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
    try:
        with state.published(vm) as description:
            print(json.dumps(description, indent=2), flush=True)
            print(f"lab: {name} is up; log in with:\n  {state.ssh_command_line(vm)}\nCtrl-C stops it",
                  file=sys.stderr, flush=True)
            while not stopping and vm.is_running():
                time.sleep(0.5)
    finally:
        died = not vm.is_running()
        vm.stop()
    if died and not stopping:
        print(f"lab: the VM exited on its own; console:\n{vm.console_tail()}", file=sys.stderr)
        return 1
    print(f"lab: {name} stopped", file=sys.stderr)
    return 0


def down(name: str) -> int:
    path = layout.state_path(name)
    if not path.exists():
        print(f"lab: {name} is not up", file=sys.stderr)
        return 0
    description = json.loads(path.read_text())
    up_process = description["pid"], description["pid_start_time"]
    qemu_process = description["qemu_pid"], description["qemu_start_time"]
    if state.process_runs(*up_process):
        os.kill(up_process[0], signal.SIGTERM)  # `up` stops its VM and removes the state file
        deadline = time.monotonic() + 10
        while state.process_runs(*up_process) and time.monotonic() < deadline:
            time.sleep(0.2)
    if state.process_runs(*qemu_process):
        os.kill(qemu_process[0], signal.SIGKILL)
    path.unlink(missing_ok=True)
    print(f"lab: {name} stopped", file=sys.stderr)
    return 0


def status(name: str) -> int:
    description = state.read(name)
    if description is not None:
        print(json.dumps(description, indent=2))
        return 0
    print(f"lab: {state.not_up_reason(name)}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="The lab director VM.")
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
