"""Boot the lab director VM (a real IPVS kernel under QEMU) and register it
as a director, so lbadmin can be tried without owning an LVS box.

    python manage.py lab up               # boots, registers director "lab", runs until Ctrl-C
    python manage.py lab status           # the running VM's JSON; exit 1 (and why) if it is not up
    python manage.py lab ssh              # log in to the guest, its host key pinned
    python manage.py lab ssh -- ipvsadm -S -n   # run one command there; its exit code

The VM is published like `python -m lab up` publishes it (lab/state.py), so
`python -m lab status|down` see and stop it.
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lab import state, topology
from lab.build import LabBuildError, ensure_built
from lab.vm import LabBootError, LabVM
from lbadmin import audit
from lbadmin.models import Director, RedundancyGroup


# The pair directors see /etc/keepalived and /run as their own (lab/README.md), and /run is
# emptied when a director is revived (a reboot); /var is shared by the whole guest. So the
# state dir (notify hook and its log) lives beside keepalived.conf, which survives a reboot
# as /var/lib/lbadmin does on a real director.
PAIR_STATE_DIR = "/etc/keepalived/lbadmin"


def register_lab_director(vm, name: str = "lab", *, pair: str | None = None, **fields) -> Director:
    """Create or update the director that points at this VM (or, with `pair`, at one of its
    pair directors dirA/dirB), pinning its host key."""
    director = Director.objects.filter(name=name).first()
    before = audit.snapshot(director) if director else None
    director = director or Director(name=name)
    director.address = vm.ssh_host
    director.transport = Director.Transport.SSH
    director.ssh_port = vm.director_endpoint(pair)[1] if pair else vm.ssh_port
    if pair:
        director.keepalived_conf = topology.KEEPALIVED_CONF
        director.keepalived_pidfile = "/run/keepalived.pid"
        director.state_dir = PAIR_STATE_DIR
        director.vrrp_address = topology.PAIR_DIRECTORS[pair].ipv4
    for field, value in fields.items():
        setattr(director, field, value)
    director.ssh_user = vm.ssh_user
    director.ssh_key_path = str(vm.key_path)
    director.host_key = vm.host_key
    director.enabled = True
    director.full_clean()
    with transaction.atomic():
        director.save()
        audit.record("create" if before is None else "update", director, before=before,
                     after=audit.snapshot(director), actor="manage.py lab", message="lab director VM registered")
    return director


def register_lab_pair(vm) -> list[Director]:
    """dirA and dirB in a redundancy group 'lab-pair', as an operator would set them up."""
    group = RedundancyGroup.objects.filter(name="lab-pair").first()
    if group is None:
        group = RedundancyGroup(name="lab-pair", virtual_router_id=51, interface=topology.PAIR_INTERFACE,
                                advert_interval=Decimal("0.1"), sync_daemon=True, sync_id=51)
        group.full_clean()
        with transaction.atomic():
            group.save()
            audit.record("create", group, after=audit.snapshot(group), actor="manage.py lab",
                         message="lab director pair's redundancy group")
    return [register_lab_director(vm, name, pair=name, group=group, priority=priority)
            for name, priority in (("dirA", 150), ("dirB", 100))]


class Command(BaseCommand):
    help = "Boot the QEMU lab director (real IPVS kernel) and register it as a director."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["up", "status", "ssh"],
                            help="up: build if needed, boot, register, wait for Ctrl-C; status: the running VM's "
                                 "JSON; ssh [-- CMD...]: log in to the guest, or run CMD there")
        parser.add_argument("--name", default="lab", help="director and VM name (default: lab)")
        parser.add_argument("guest_command", nargs="*", metavar="CMD", help="with ssh, after --: the command to run")

    _after_dashes: list[str] = []

    def run_from_argv(self, argv):
        # argparse will not take `--name X` between the action and `-- CMD`: the words
        # after the first `--` are the guest's command, whatever comes before them.
        if "--" in argv:
            cut = argv.index("--")
            self._after_dashes = argv[cut + 1:]
            argv = argv[:cut]
        super().run_from_argv(argv)

    def handle(self, *args, action: str, name: str, guest_command: list[str], **options):
        guest_command = [*guest_command, *self._after_dashes]
        if action == "status":
            return self._status(name)
        if action == "ssh":
            return self._ssh(name, guest_command)
        if guest_command:
            raise CommandError(f"lab up takes no command (got {' '.join(guest_command)!r})")
        self._up(name)

    def _status(self, name: str) -> None:
        description = state.read(name)
        if description is None:
            raise CommandError(state.not_up_reason(name))
        self.stdout.write(json.dumps(description, indent=2))

    def _ssh(self, name: str, command: list[str]) -> None:
        """OpenSSH into the guest with the published command line: the guest's key pinned
        (StrictHostKeyChecking=yes against the lab's known_hosts), an argv list, no shell here."""
        description = state.read(name)
        if description is None:
            raise CommandError(state.not_up_reason(name))
        if shutil.which("ssh") is None:
            raise CommandError("no ssh client here: install OpenSSH's client (Debian: openssh-client)")
        code = subprocess.run(state.ssh_argv(description, command), check=False).returncode
        if code:
            sys.exit(code)

    def _up(self, name: str) -> None:
        try:
            state.refuse_if_up(name)
            self.stderr.write("[1/3] building the lab image (cached after the first time)...")
            image = ensure_built(log=lambda line: self.stderr.write(f"      {line}"))
        except (state.AlreadyUp, LabBuildError) as exc:
            raise CommandError(str(exc)) from None
        vm = LabVM(name=name, image=image)
        self.stderr.write("[2/3] booting the director VM under QEMU (TCG, about 10 s)...")
        try:
            vm.start()
        except LabBootError as exc:
            raise CommandError(f"the lab VM did not boot: {exc}") from None
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
        try:
            with state.published(vm):
                director = register_lab_director(vm, name)
                self.stderr.write(f"[3/3] registered director '{director.name}': ssh root@127.0.0.1:{vm.ssh_port}, "
                                  f"host key {director.host_key_fingerprint}")
                pair = register_lab_pair(vm)
                self._print_guide(vm, name)
                self._print_pair_guide(vm, pair)
                while not stop["now"] and vm.is_running():
                    time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            vm.stop()
            self.stdout.write("Lab VM stopped.")

    def _print_pair_guide(self, vm: LabVM, pair: list[Director]) -> None:
        group = pair[0].group
        rs = ", ".join(f"{r.name} {r.ipv4}" for r in topology.PAIR_REAL_SERVERS.values())
        self.stdout.write(
            f"Redundancy: directors {' and '.join(d.name for d in pair)} form group '{group}' (REDUNDANCY page; "
            f"priorities {', '.join(f'{d.name} {d.priority}' for d in pair)}, adverts every {group.advert_interval} s). "
            f"Their VIPs: {topology.PAIR_VIP_POOL_V4[0]} .. {topology.PAIR_VIP_POOL_V4[-1]} on device "
            f"{topology.PAIR_INTERFACE}, direct routing to {rs} (port {topology.HTTP_PORT}; echo on "
            f"{topology.ECHO_PORT}). keepalived raises a VIP when a virtual server on it is activated; CONTROL "
            "shows which director holds it. To fail the master over for real (every process of dirA killed, "
            "its link down), and to bring it back:\n"
            f"  {state.ssh_command_line(vm)} lab-director kill dirA\n"
            f"  {state.ssh_command_line(vm)} lab-director start dirA")

    def _print_guide(self, vm: LabVM, name: str) -> None:
        self.stdout.write(f"VIPs you can use: {topology.VIP_POOL_V4[0]} .. {topology.VIP_POOL_V4[-1]} "
                          f"(and {topology.VIP_POOL_V6[0]} ..). Real servers live inside the VM; this host "
                          "reaches them for health checks only through these forwarders, so set each real "
                          "server's check address and port to its forwarder (and use an HTTP check):")
        for rs in topology.REAL_SERVERS.values():
            host, port = vm.check_endpoint(rs.name)
            self.stdout.write(f"  {rs.name}: address {rs.ipv4} port 80 -> check address {host} check port {port}")
        option = "" if name == "lab" else f" --name {name}"
        self.stdout.write(f"Log in to the director (its host key pinned):\n  {state.ssh_command_line(vm)}\n"
                          f"or run one command there:\n  python manage.py lab ssh{option} -- ipvsadm -S -n")
        self.stdout.write(f"Lab director '{name}' is up (booted in {vm.boot_seconds:.1f} s). Try:\n"
                          f"  python manage.py reconcile --dry-run --director {name}\n"
                          f"  python manage.py lab status{option}\n"
                          "Ctrl-C stops the VM.")
