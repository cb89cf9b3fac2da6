"""From the live table to the desired one with the fewest ipvsadm commands.

plan(live, desired) -> [Command]. The order is: deletions (-d, then -D), then edits
(-E, -e), then additions (-A with its -a, and -a into kept services). Deleting first
means an address that moves never collides with its old self, and no service briefly
holds both the old and the new set.

A service whose key changes (address, port, protocol, fwmark, family) is a different
kernel object: -D the old, -A the new. Scheduler or persistence changes are -E (which
resets every service setting, so -E always carries all of them); weight, forwarding or
threshold changes are -e (likewise complete).

simulate(table, commands) shows what ipvsadm and the kernel do with the commands,
refusing what they refuse with the same messages, so tests can check plans without a
kernel; the lab VM proves the same plans against a real one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import CommandFailed, IpvsError
from .model import (
    MAX_TIMEOUT, SCHEDULERS, Destination, DestinationMap, Service, ServiceKey, Table,
)
from .parse import parse_rule
from .render import _dest_args, destination_options, service_options

_OP_WORDS = {"-A": "add service", "-E": "edit service", "-D": "delete service",
             "-a": "add server", "-e": "edit server", "-d": "delete server",
             "-C": "clear table", "--set": "set timeouts"}


@dataclass(frozen=True, slots=True)
class Command:
    """One ipvsadm command: args without the program name.

    .line is the text for an `ipvsadm -R` batch, .argv the list for a direct run.
    Every token comes from validated model values, so none holds whitespace.
    """
    args: tuple[str, ...]

    @property
    def op(self) -> str:
        return self.args[0]

    @property
    def line(self) -> str:
        return " ".join(self.args)

    @property
    def argv(self) -> list[str]:
        return ["ipvsadm", *self.args]

    @property
    def summary(self) -> str:
        """A short human description, e.g. "add server 10.0.0.1:80 to -t 192.0.2.1:80"."""
        return f"{_OP_WORDS.get(self.op, self.op)}: {' '.join(self.args[1:])}"

    def __str__(self) -> str:
        return self.line


def add_service(service: Service) -> Command:
    return Command(("-A", *service_options(service)))


def edit_service(service: Service) -> Command:
    return Command(("-E", *service_options(service)))


def delete_service(key: ServiceKey) -> Command:
    return Command(("-D", *key.options))


def add_server(key: ServiceKey, dest: Destination) -> Command:
    return Command(("-a", *destination_options(key, dest)))


def edit_server(key: ServiceKey, dest: Destination) -> Command:
    return Command(("-e", *destination_options(key, dest)))


def delete_server(key: ServiceKey, dest: Destination) -> Command:
    return Command(("-d", *key.options, "-r", dest.endpoint))


def set_timeouts(tcp: int, tcpfin: int, udp: int) -> Command:
    """`ipvsadm --set TCP TCPFIN UDP`; 0 leaves that value as it is.

    (ipvsadm passes the values through; the kernel's ip_vs_set_timeout() only
    changes a timeout whose new value is non-zero.)
    """
    for name, value in (("tcp", tcp), ("tcpfin", tcpfin), ("udp", udp)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TIMEOUT:
            raise ValueError(f"{name} timeout must be 0..{MAX_TIMEOUT} seconds, got {value!r}")
    return Command(("--set", str(tcp), str(tcpfin), str(udp)))


class UnexpressibleTable(IpvsError, ValueError):
    """A desired table that ipvsadm cannot produce (it would silently differ)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__("the desired table cannot be set with ipvsadm: "
                         + "; ".join(problems[:5]) + more)


def check_expressible(table: Table) -> None:
    """Raise UnexpressibleTable for what ipvsadm would refuse or change on the way in."""
    problems: list[str] = []
    for service in table.values():
        key = service.key
        if not key.is_fwmark and key.port == 0 and service.persistent is None:
            problems.append(f"{key}: port 0 needs persistence")
        if service.ops and key.kind not in ("udp", "fwmark"):
            problems.append(f"{key}: one-packet scheduling is only for UDP or fwmark")
        for dest in service.destinations.values():
            if dest.family != key.family and dest.forwarding != "tunnel":
                problems.append(f"{key} -> {dest.endpoint}: another address family "
                                "needs tunnel forwarding")
            if (not key.is_fwmark and dest.forwarding != "masq" and dest.port != key.port):
                problems.append(f"{key} -> {dest.endpoint}: {dest.forwarding} forwarding "
                                f"cannot change the port (use {key.port})")
    if problems:
        raise UnexpressibleTable(problems)


def plan(live: Table, desired: Table) -> list[Command]:
    """The minimal ordered commands that turn `live` into `desired`."""
    check_expressible(desired)
    delete_dests: list[Command] = []
    delete_services: list[Command] = []
    edits: list[Command] = []
    adds: list[Command] = []

    for key in sorted(live.keys() | desired.keys(), key=ServiceKey.sort_key):
        old, new = live.get(key), desired.get(key)
        if new is None:
            delete_services.append(delete_service(key))
            continue
        head = key.options
        if old is None:
            adds.append(add_service(new))
            adds.extend(Command(("-a", *_dest_args(head, dest)))
                        for dest in new.destinations.sorted())
            continue
        if old == new:
            continue
        if old.settings != new.settings:
            edits.append(edit_service(new))
        if old.destinations == new.destinations:
            continue
        old_dests, new_dests = old.destinations, new.destinations
        for dest in old_dests.sorted():
            if dest.key not in new_dests:
                delete_dests.append(delete_server(key, dest))
        for dest in new_dests.sorted():
            before = old_dests.get(dest.key)
            if before is None:
                adds.append(Command(("-a", *_dest_args(head, dest))))
            elif before != dest:
                edits.append(Command(("-e", *_dest_args(head, dest))))
    return delete_dests + delete_services + edits + adds


# ---------------------------------------------------------------------------
# Simulator
# ---------------------------------------------------------------------------

def simulate(table: Table, commands: Iterable[Command | str | Sequence[str]]) -> Table:
    """The table after ipvsadm ran `commands` against a kernel holding `table`.

    Commands are parsed exactly as `ipvsadm -R` would parse their lines. A command
    the kernel refuses raises CommandFailed with ipvsadm's message (unlike -R, which
    prints it and goes on, the simulator stops: a plan should never hit one).
    """
    settings: dict[ServiceKey, Service] = dict(table)
    dests: dict[ServiceKey, dict] = {k: dict(s.destinations) for k, s in table.items()}

    for command in commands:
        if isinstance(command, Command):
            args: Sequence[str] | str = command.args
        else:
            args = command
        text = args if isinstance(args, str) else " ".join(args)
        rule = parse_rule(args)
        argv = ["ipvsadm", *text.split()]

        def refuse(message: str, returncode: int = 255) -> CommandFailed:
            return CommandFailed(argv, returncode, message + "\n")

        op, key = rule.op, rule.key
        if op == "--set":
            continue   # timeouts are not part of the table
        if op == "-C":
            settings.clear()
            dests.clear()
        elif op in ("-A", "-E"):
            service = rule.service()
            if service.scheduler not in SCHEDULERS:
                raise refuse("Scheduler or persistence engine not found")
            if service.pe is not None and service.pe != "sip":
                raise refuse("Scheduler or persistence engine not found")
            if op == "-A" and key in settings:
                raise refuse("Service already exists")
            if op == "-E" and key not in settings:
                raise refuse("No such service")
            settings[key] = service
            dests.setdefault(key, {})
        elif op == "-D":
            if key not in settings:
                raise refuse("No such service")
            del settings[key]
            del dests[key]
        else:
            dest = rule.destination
            if op in ("-a", "-e") and dest.family != key.family and dest.forwarding != "tunnel":
                raise refuse("Different address family is allowed only for tunneling servers", 2)
            if key not in settings:
                raise refuse("Service not defined")
            held = dests[key]
            if op == "-a":
                if dest.key in held:
                    raise refuse("Destination already exists")
                held[dest.key] = dest
            elif dest.key not in held:
                raise refuse("No such destination")
            elif op == "-e":
                held[dest.key] = dest
            else:
                del held[dest.key]

    return Table(Service(key, **_settings_of(service),
                         destinations=DestinationMap(dests[key].values()))
                 for key, service in settings.items())


def _settings_of(service: Service) -> dict:
    return {"scheduler": service.scheduler, "persistent": service.persistent,
            "netmask": service.netmask, "pe": service.pe, "ops": service.ops,
            "sched_flags": service.sched_flags}
