"""Tables and commands written as ipvsadm writes and reads them.

`render(table)` gives the text `ipvsadm -S -n` prints (ipvsadm 1.31, Debian 12):

    -A -t 192.0.2.1:80 -s wlc -p 300 -M 255.255.255.0
    -a -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 1
    -A -f 7 -6 -s rr
    -a -f 7 -6 -r [2001:db8::7]:0 -i -w 0 --tun-type ipip

Order of options, as ipvsadm's print_service_entry(): -s, then -p (with -M only when
the mask is not /32 or /128), --pe, -o, -b. Destinations: -r, the forwarding switch,
-w, and for tunnels (1.31 and later) "--tun-type ipip". Services are sorted by fwmark,
family, protocol, address, port; destinations by address, port, with ipvsadm's 32-bit
wraparound (order.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from .addresses import format_endpoint
from .model import Destination, Service, ServiceKey, Table

_FORWARDING_SWITCH = {"masq": "-m", "route": "-g", "tunnel": "-i"}


def service_options(service: Service) -> tuple[str, ...]:
    """The options after -A/-E that set every service setting, in -S order."""
    options = [*service.key.options, "-s", service.scheduler]
    if service.persistent is not None:
        options += ["-p", str(service.persistent)]
        if service.netmask is not None:
            options += ["-M", service.netmask]
    if service.pe is not None:
        options += ["--pe", service.pe]
    if service.ops:
        options.append("-o")
    if service.sched_flags:
        options += ["-b", ",".join(service.sched_flags)]
    return tuple(options)


def destination_options(key: ServiceKey, dest: Destination, *,
                        thresholds: bool = True) -> tuple[str, ...]:
    """The options after -a/-e that set every destination setting.

    Thresholds are written only when set, and never in -S text (ipvsadm omits them).
    """
    return _dest_args(key.options, dest, thresholds)


def _dest_args(head: tuple[str, ...], dest: Destination, thresholds: bool = True) -> tuple[str, ...]:
    # head is key.options, computed once per service by callers that loop.
    args = (*head, "-r", format_endpoint(dest.address, dest.port),
            _FORWARDING_SWITCH[dest.forwarding], "-w", str(dest.weight))
    if thresholds and (dest.u_threshold or dest.l_threshold):
        args += ("-x", str(dest.u_threshold), "-y", str(dest.l_threshold))
    return args


def render_service(service: Service) -> list[str]:
    """The -S lines of one service: its -A line, then its -a lines."""
    head = " ".join(service.key.options)
    lines = ["-A " + " ".join(service_options(service))]
    for dest in service.destinations.sorted():
        line = (f"-a {head} -r {dest.endpoint} {_FORWARDING_SWITCH[dest.forwarding]}"
                f" -w {dest.weight}")
        if dest.forwarding == "tunnel":
            line += " --tun-type ipip"
        lines.append(line)
    return lines


def render(table: Table, cache: dict[Service, list[str]] | None = None) -> str:
    """The exact text of `ipvsadm -S -n` for this table ("" when empty).

    `cache`: the lines of the services of an earlier render, kept by the caller; a service
    found there costs a lookup, so a table that changed in one service renders in about
    that service's time. It is left holding this table's services only."""
    lines: list[str] = []
    for service in table.sorted():
        rendered = cache.get(service) if cache is not None else None
        if rendered is None:
            rendered = render_service(service)
            if cache is not None:
                cache[service] = rendered
        lines += rendered
    if cache is not None and len(cache) > len(table):
        for gone in set(cache).difference(table.values()):
            del cache[gone]
    return "".join(line + "\n" for line in lines)


def render_restore(commands: Iterable[object]) -> str:
    """Standard input for `ipvsadm -R`: one command line each, newline-terminated.

    Accepts Command objects (their .line) or ready lines. ipvsadm -R splits on
    whitespace with no quoting, so a line holding a newline would become two
    commands: refuse it rather than send it.
    """
    out: list[str] = []
    for command in commands:
        line = getattr(command, "line", command)
        if not isinstance(line, str):
            raise TypeError(f"expected a Command or str, got {type(command).__name__}")
        if "\n" in line or "\r" in line or "#" in line:
            raise ValueError(f"refusing an ipvsadm -R line with a newline or '#': {line!r}")
        out.append(line + "\n")
    return "".join(out)
