"""Readers for ipvsadm's output and rule lines.

- parse_save:  `ipvsadm -S -n`                       -> Table
- parse_list:  `ipvsadm -L -n --exact`               -> ListReport (table + ActiveConn/InActConn)
- parse_stats: `ipvsadm -L -n --exact --stats`       -> CounterReport of Stats
- parse_rate:  `ipvsadm -L -n --exact --rate`        -> CounterReport of Rates
- parse_rule:  one ipvsadm command line (-A -E -D -a -e -d -C --set) -> Rule,
  with ipvsadm's defaults and checks; parse_save and the simulator use it.

Malformed input raises ParseError naming the line number and the line.
Only numeric output is understood (-n): host and port names are refused.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .addresses import format_endpoint, normalize_address, split_endpoint
from .errors import ParseError
from .model import (
    DEFAULT_PERSISTENCE, MAX_FWMARK, MAX_TIMEOUT, DestKey, Destination, DestinationMap,
    Service, ServiceKey, Table,
)


class DestRef(NamedTuple):
    """A destination named across the whole table: (service key, address, port)."""
    service: ServiceKey
    address: str
    port: int


# ---------------------------------------------------------------------------
# Rule lines
# ---------------------------------------------------------------------------

_COMMANDS = {
    "-A": "-A", "--add-service": "-A", "-E": "-E", "--edit-service": "-E",
    "-D": "-D", "--delete-service": "-D", "-a": "-a", "--add-server": "-a",
    "-e": "-e", "--edit-server": "-e", "-d": "-d", "--delete-server": "-d",
    "-C": "-C", "--clear": "-C", "--set": "--set",
}
_OPTIONS = {
    "-t": "-t", "--tcp-service": "-t", "-u": "-u", "--udp-service": "-u",
    "--sctp-service": "--sctp-service", "-f": "-f", "--fwmark-service": "-f",
    "-6": "-6", "--ipv6": "-6", "-s": "-s", "--scheduler": "-s",
    "-p": "-p", "--persistent": "-p", "-M": "-M", "--netmask": "-M",
    "--pe": "--pe", "-o": "-o", "--ops": "-o", "-b": "-b", "--sched-flags": "-b",
    "-r": "-r", "--real-server": "-r", "-m": "-m", "--masquerading": "-m",
    "-g": "-g", "--gatewaying": "-g", "-i": "-i", "--ipip": "-i",
    "-w": "-w", "--weight": "-w", "-x": "-x", "--u-threshold": "-x",
    "-y": "-y", "--l-threshold": "-y", "--tun-type": "--tun-type",
    "-n": "-n", "--numeric": "-n",
}
_TAKES_VALUE = {"-t", "-u", "--sctp-service", "-f", "-s", "-M", "--pe", "-b", "-r",
                "-w", "-x", "-y", "--tun-type"}
_KIND_OF = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp", "-f": "fwmark"}
_FORWARDING_OF = {"-m": "masq", "-g": "route", "-i": "tunnel"}
_SERVICE_OPTS = {"-s", "-p", "-M", "--pe", "-o", "-b"}
_DEST_OPTS = {"-m", "-g", "-i", "-w", "-x", "-y", "--tun-type"}
# Which options each command takes, after ipvsadm's commands_v_options table.
_ALLOWED = {
    "-A": _SERVICE_OPTS, "-E": _SERVICE_OPTS, "-D": set(),
    "-a": {"-r"} | _DEST_OPTS, "-e": {"-r"} | _DEST_OPTS, "-d": {"-r"},
    "-C": set(), "--set": set(),
}
_OPTION_NAMES = {
    "-s": "scheduler", "-p": "persistent", "-M": "netmask", "--pe": "pe", "-o": "ops",
    "-b": "sched-flags", "-r": "real-server", "-m": "forwarding-method",
    "-g": "forwarding-method", "-i": "forwarding-method", "-w": "weight",
    "-x": "u-threshold", "-y": "l-threshold", "--tun-type": "tun-type",
}


@dataclass(slots=True)
class Rule:
    """One parsed ipvsadm command, with ipvsadm's defaults filled in.

    op: '-A' '-E' '-D' '-a' '-e' '-d' '-C' '--set'.
    settings: keyword arguments for Service (for -A/-E).
    destination: for -a/-e the whole Destination; for -d only its key matters.
    """
    op: str
    key: ServiceKey | None = None
    settings: dict = field(default_factory=dict)
    destination: Destination | None = None
    timeouts: tuple[int, int, int] | None = None

    def service(self) -> Service:
        assert self.key is not None
        return Service(self.key, **self.settings)


def parse_rule(tokens: Sequence[str] | str, lineno: int | None = None,
               line: str | None = None, *, as_input: bool = True) -> Rule:
    """Parse one command (tokens, or a line split on whitespace like ipvsadm -R does).

    as_input: apply what ipvsadm does to a command it is given (direct routing and
    tunnel destinations take the service port). False reads a line as a description
    of kernel state, as in -S output, where the port printed is the port held.
    """
    if isinstance(tokens, str):
        line = tokens if line is None else line
        tokens = tokens.split()
    shown = line if line is not None else " ".join(tokens)

    def fail(message: str) -> ParseError:
        return ParseError(message, lineno, shown)

    if tokens and tokens[0] == "ipvsadm":   # ipvsadm -R skips its own name too
        tokens = tokens[1:]
    if not tokens:
        raise fail("empty command")
    op = _COMMANDS.get(tokens[0])
    if op is None:
        raise fail(f"expected a command (-A -E -D -a -e -d -C --set), got {tokens[0]!r}")

    seen: dict[str, str | None] = {}
    positional: list[str] = []
    i, count = 1, len(tokens)
    while i < count:
        token = tokens[i]
        opt = _OPTIONS.get(token)
        if opt is None:
            if token.startswith("-") and not token.lstrip("-").isdigit():
                raise fail(f"unknown or unsupported option {token!r}")
            positional.append(token)
            i += 1
            continue
        if opt in _KIND_OF:
            slot = "service"
        elif opt in _FORWARDING_OF:
            slot = "forwarding"
        else:
            slot = opt
        if slot in seen:
            raise fail(f"multiple {_OPTION_NAMES.get(slot, slot)!r} options specified")
        if opt in _TAKES_VALUE:
            if i + 1 >= count:
                raise fail(f"option {token} needs a value")
            value: str | None = tokens[i + 1]
            i += 2
        elif opt == "-p" and i + 1 < count and not tokens[i + 1].startswith("-"):
            value = tokens[i + 1]   # popt's optional argument: taken unless it looks like an option
            i += 2
        else:
            value = None
            i += 1
        if slot == "service":
            seen["service"] = opt
            seen["service-value"] = value
        elif slot == "forwarding":
            seen["forwarding"] = opt
        else:
            seen[slot] = value

    if op == "--set":
        if len(positional) != 3:
            raise fail("--set needs 3 timeout values (tcp tcpfin udp)")
        return Rule(op, timeouts=tuple(_int(v, 0, MAX_TIMEOUT, "timeout", fail)
                                       for v in positional))  # type: ignore[arg-type]
    if positional:
        raise fail(f"unexpected argument {positional[0]!r}")
    for slot in seen:
        if slot in ("service", "service-value", "-n", "-6"):
            continue
        name = "-m" if slot == "forwarding" else slot
        if name not in _ALLOWED[op]:
            raise fail(f"option {_OPTION_NAMES.get(name, name)!r} is not valid with {op}")
    if op == "-C":
        if "service" in seen:
            raise fail("-C takes no service")
        return Rule(op)
    if "service" not in seen:
        raise fail(f"{op} needs a service (-t, -u, --sctp-service or -f)")

    key = _service_key(seen, fail)
    rule = Rule(op, key)
    if op in ("-A", "-E"):
        rule.settings = _service_settings(seen, key, fail)
        if key.kind != "fwmark" and key.port == 0 and rule.settings["persistent"] is None:
            raise fail("Zero port specified for non-persistent service")
        if rule.settings["ops"] and key.kind not in ("udp", "fwmark"):
            raise fail("One-Packet Scheduling is only for UDP virtual services")
    elif op in ("-a", "-e", "-d"):
        if "-r" not in seen:
            raise fail(f"{op} needs a real server (-r)")
        rule.destination = _destination(seen, key, op if as_input else "", fail)
    return rule


def _int(text: str | None, low: int, high: int, what: str, fail) -> int:
    if text is None or not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise fail(f"{what} must be a number {low}..{high}, got {text!r}")
    return int(text)


def _service_key(seen: dict, fail) -> ServiceKey:
    opt, value = seen["service"], seen["service-value"]
    if opt == "-f":
        family = 6 if "-6" in seen else 4
        return ServiceKey.for_fwmark(_int(value, 1, MAX_FWMARK, "fwmark", fail), family)
    if "-6" in seen:
        raise fail("-6 used before -f (it only applies to fwmark services)")
    try:
        address, port = split_endpoint(value)
    except ValueError as exc:
        raise fail(f"illegal virtual server address[:port] ({exc})") from None
    return ServiceKey(_KIND_OF[opt], address, port or 0)


def _service_settings(seen: dict, key: ServiceKey, fail) -> dict:
    persistent = None
    if "-p" in seen:
        value = seen["-p"]
        persistent = DEFAULT_PERSISTENCE if value is None else _int(value, 1, MAX_TIMEOUT, "persistent timeout", fail)
    netmask = seen.get("-M")
    sched_flags = tuple(f for f in (seen.get("-b") or "").split(",") if f)
    settings = {"scheduler": seen.get("-s") or "wlc", "persistent": persistent,
                # ipvsadm only shows (and only we only keep) the mask of persistent services
                "netmask": netmask if persistent is not None else None,
                "pe": seen.get("--pe"), "ops": "-o" in seen, "sched_flags": sched_flags}
    try:
        Service(key, **settings)   # validate here, so the error carries the line
    except ValueError as exc:
        raise fail(str(exc)) from None
    return settings


def _destination(seen: dict, key: ServiceKey, op: str, fail) -> Destination:
    try:
        address, port = split_endpoint(seen["-r"])
    except ValueError as exc:
        raise fail(f"illegal real server address[:port] ({exc})") from None
    forwarding = _FORWARDING_OF[seen.get("forwarding", "-g")]
    if port is None:
        port = key.port   # ipvsadm copies the service port
    if op in ("-a", "-e") and not key.is_fwmark and forwarding in ("route", "tunnel"):
        port = key.port   # ipvsadm forces it: DR and tunnels cannot change the port
    tun_type = seen.get("--tun-type")
    if tun_type is not None and tun_type != "ipip":
        raise fail(f"tunnel type {tun_type!r} is not supported (only ipip)")
    if op == "-d":
        return Destination(address, port, forwarding)
    weight = _int(seen["-w"], 0, 65535, "weight", fail) if "-w" in seen else 1
    upper = _int(seen["-x"], 0, 2**31 - 1, "u-threshold", fail) if "-x" in seen else 0
    lower = _int(seen["-y"], 0, 2**31 - 1, "l-threshold", fail) if "-y" in seen else 0
    try:
        return Destination(address, port, forwarding, weight, upper, lower)
    except ValueError as exc:
        raise fail(str(exc)) from None


# ---------------------------------------------------------------------------
# ipvsadm -S -n
# ---------------------------------------------------------------------------

# The shapes ipvsadm -S prints for nearly every line, read without the general
# parser (parse_save must stay fast at 9,000 lines); any other line takes parse_rule.
_SAVE_SERVICE = re.compile(
    r"-A ((-[tuf]|--sctp-service) (\S+)( -6)?) -s ([a-z0-9_]{1,15})"
    r"(?: -p (\d{1,7})(?: -M (\S+))?)?\Z")
_SAVE_DEST = re.compile(
    r"-a ((?:-[tuf]|--sctp-service) \S+(?: -6)?) -r (?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})"
    r" -([mgi]) -w (\d{1,5})(?: --tun-type ipip)?\Z")
_SWITCH_FORWARDING = {"m": "masq", "g": "route", "i": "tunnel"}


def parse_save(text: str) -> Table:
    """The Table described by `ipvsadm -S -n` output (only -A and -a lines)."""
    # key -> (lineno, line, settings, {DestKey: Destination})
    entries: dict[ServiceKey, tuple[int, str, dict, dict]] = {}
    # "-t 192.0.2.1:80" as an -A line wrote it -> that service's destinations
    heads: dict[str, dict] = {}
    # Local names: this loop runs once per destination, the hot path of reconcile.
    new_object, new_tuple = object.__new__, tuple.__new__
    inet_pton, AF_INET = socket.inet_pton, socket.AF_INET
    forwardings = _SWITCH_FORWARDING
    for lineno, line in enumerate(text.splitlines(), 1):
        match = _SAVE_DEST.match(line)
        if match:
            head, address6, address, port, switch, weight = match.groups()
            held = heads.get(head)
            port, weight = int(port), int(weight)
            if held is not None and port <= 65535 and weight <= 65535:
                try:
                    if address6 is None:
                        inet_pton(AF_INET, address)   # strict dotted quad: already canonical
                    else:
                        address = normalize_address(address6)[0]
                except (OSError, ValueError):
                    pass   # parse_rule below says what is wrong
                else:
                    key = new_tuple(DestKey, (address, port))
                    if key in held:
                        raise ParseError(f"destination {format_endpoint(address, port)} "
                                         "is listed twice", lineno, line)
                    # Skips __init__ (the slow part of parsing): every value was validated above.
                    dest = new_object(Destination)
                    dest.__dict__.update({
                        "address": address, "port": port, "forwarding": forwardings[switch],
                        "weight": weight, "u_threshold": 0, "l_threshold": 0, "key": key})
                    held[key] = dest
                    continue
        if not line or line.isspace():
            continue
        match = _SAVE_SERVICE.match(line)
        key = _fast_service_key(match) if match else None
        if key is not None:
            persistent = int(match[6]) if match[6] is not None else None
            settings = {"scheduler": match[5], "persistent": persistent, "netmask": match[7]}
        else:
            rule = parse_rule(line.split(), lineno, line, as_input=False)
            key, settings = rule.key, rule.settings
            if rule.op == "-a":
                if key not in entries:
                    raise ParseError(f"-a for service {key} before its -A line", lineno, line)
                held = entries[key][3]
                if rule.destination.key in held:
                    raise ParseError(f"destination {rule.destination.endpoint} is listed twice",
                                     lineno, line)
                held[rule.destination.key] = rule.destination
                continue
            if rule.op != "-A":
                raise ParseError(f"{rule.op} does not appear in ipvsadm -S output", lineno, line)
        if key in entries:
            raise ParseError(f"service {key} is defined twice", lineno, line)
        held = {}
        entries[key] = (lineno, line, settings, held)
        if match:
            heads[match[1]] = held   # the -a lines of this service repeat this text
    services = []
    for key, (lineno, line, settings, held) in entries.items():
        try:
            service = Service(key, **settings, destinations=DestinationMap(held.values()))
        except ValueError as exc:
            raise ParseError(str(exc), lineno, line) from None
        if key.port == 0 and not key.is_fwmark and service.persistent is None:
            raise ParseError("Zero port specified for non-persistent service", lineno, line)
        services.append(service)
    return Table(services)


def _fast_service_key(match: re.Match) -> ServiceKey | None:
    """The key of a plain -A line, or None to let parse_rule handle (and explain) it."""
    option, value, six = match.group(2, 3, 4)
    try:
        if option == "-f":
            return ServiceKey.for_fwmark(int(value), 6 if six else 4) if value.isdigit() else None
        if six:
            return None
        address, port = split_endpoint(value)
        return ServiceKey(_KIND_OF[option], address, port or 0)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# ipvsadm -L -n [--exact] [--stats | --rate]
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Connections:
    """One destination row of `ipvsadm -L -n`."""
    forwarding: str
    weight: int
    active: int
    inactive: int


@dataclass(frozen=True, slots=True)
class ListReport:
    """`ipvsadm -L -n --exact`: the table it shows and connection counts per destination."""
    table: Table
    connections: dict[DestRef, Connections]
    version: str = ""
    size: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters since the service or destination was created (--stats)."""
    conns: int
    inpkts: int
    outpkts: int
    inbytes: int
    outbytes: int


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates from the kernel's 2-second estimator (--rate)."""
    cps: int
    inpps: int
    outpps: int
    inbps: int
    outbps: int


@dataclass(frozen=True, slots=True)
class CounterReport:
    """--stats or --rate: one row per service and one per destination."""
    services: dict[ServiceKey, Stats | Rates]
    destinations: dict[DestRef, Stats | Rates]


_FORWARD_NAMES = {"Masq": "masq", "Route": "route", "Tunnel": "tunnel",
                  # The kernel marks a destination that is a local address "Local";
                  # -S prints it as -g, so it is direct routing in the table.
                  "Local": "route"}
_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_SUFFIX = {"K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_STATS_COLUMNS = ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]
_RATE_COLUMNS = ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]


def _lines(text: str) -> Iterable[tuple[int, str, list[str]]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if tokens:
            yield lineno, line, tokens


def _is_version_line(line: str) -> bool:
    return line.startswith("IP Virtual Server version ")


def _version(line: str, lineno: int) -> tuple[str, int]:
    # "IP Virtual Server version 1.2.1 (size=4096)"
    words = line.split()
    try:
        return words[4], int(words[5].removeprefix("(size=").removesuffix(")"))
    except (IndexError, ValueError):
        raise ParseError("malformed version line", lineno, line) from None


def _label_key(tokens: list[str], lineno: int, line: str) -> tuple[ServiceKey, int]:
    """The ServiceKey of a listing row and how many tokens named it."""
    head = tokens[0]
    try:
        if head == "FWM":
            mark = int(tokens[1])
            if len(tokens) > 2 and tokens[2] == "IPv6":
                return ServiceKey.for_fwmark(mark, 6), 3
            return ServiceKey.for_fwmark(mark, 4), 2
        kind = _PROTOCOLS[head]
        address, port = split_endpoint(tokens[1])
        return ServiceKey(kind, address, port if port is not None else 0), 2
    except (KeyError, IndexError, ValueError) as exc:
        raise ParseError(f"malformed service row ({exc})", lineno, line) from None


def _dest_endpoint(token: str, lineno: int, line: str) -> tuple[str, int]:
    try:
        address, port = split_endpoint(token)
    except ValueError as exc:
        raise ParseError(str(exc), lineno, line) from None
    if port is None:
        raise ParseError("destination without a port", lineno, line)
    return address, port


def parse_list(text: str) -> ListReport:
    """`ipvsadm -L -n [--exact]`: the table it shows plus connection counts.

    Thresholds are not shown by this listing either, so they are 0 in .table.
    """
    version, size = "", 0
    services: list[tuple[ServiceKey, dict, dict]] = []
    listed: set[ServiceKey] = set()
    connections: dict[DestRef, Connections] = {}
    titles = 0
    for lineno, line, tokens in _lines(text):
        if _is_version_line(line):
            version, size = _version(line, lineno)
        elif tokens[:2] == ["Prot", "LocalAddress:Port"]:
            if tokens[2:] != ["Scheduler", "Flags"]:
                raise ParseError("not the plain listing (use parse_stats/parse_rate for "
                                 "--stats/--rate)", lineno, line)
            titles += 1
        elif tokens[0] == "->":
            if tokens[1] == "RemoteAddress:Port":
                if tokens[2:] != ["Forward", "Weight", "ActiveConn", "InActConn"]:
                    raise ParseError("not the plain listing (use parse_stats/parse_rate "
                                     "for --stats/--rate; --tun-info etc. are not supported)",
                                     lineno, line)
                titles += 1
                continue
            if not services:
                raise ParseError("destination row before any service", lineno, line)
            if len(tokens) != 6 or tokens[2] not in _FORWARD_NAMES:
                raise ParseError("expected '-> ADDRESS:PORT Forward Weight ActiveConn InActConn'",
                                 lineno, line)
            address, port = _dest_endpoint(tokens[1], lineno, line)
            try:
                weight, active, inactive = (int(t) for t in tokens[3:6])
                dest = Destination(address, port, _FORWARD_NAMES[tokens[2]], weight)
            except ValueError as exc:
                raise ParseError(f"malformed destination row ({exc})", lineno, line) from None
            key, _, dests = services[-1]
            if dest.key in dests:
                raise ParseError(f"destination {dest.endpoint} is listed twice", lineno, line)
            dests[dest.key] = dest
            connections[DestRef(key, address, port)] = Connections(
                dest.forwarding, weight, active, inactive)
        elif tokens[0] in ("TCP", "UDP", "SCTP", "FWM"):
            key, used = _label_key(tokens, lineno, line)
            settings = _list_settings(key, tokens[used:], lineno, line)
            if key in listed:
                raise ParseError(f"service {key} is listed twice", lineno, line)
            listed.add(key)
            services.append((key, settings, {}))
        else:
            raise ParseError("unexpected line in ipvsadm -L output", lineno, line)
    if services and titles == 0:
        raise ParseError("no listing header found: is this `ipvsadm -L -n` output?", 1,
                         text.splitlines()[0])
    table = Table(Service(key, **settings, destinations=DestinationMap(dests.values()))
                  for key, settings, dests in services)
    return ListReport(table, connections, version, size)


def _list_settings(key: ServiceKey, words: list[str], lineno: int, line: str) -> dict:
    """Settings from the rest of a -L service row: "wlc (flag-1) persistent 300 mask 64 pe sip ops"."""
    if not words:
        raise ParseError("service row without a scheduler", lineno, line)
    settings: dict = {"scheduler": words[0], "persistent": None, "netmask": None,
                      "pe": None, "ops": False, "sched_flags": ()}
    i = 1
    try:
        if i < len(words) and words[i].startswith("("):
            settings["sched_flags"] = tuple(words[i].strip("()").split(","))
            i += 1
        while i < len(words):
            word = words[i]
            if word == "persistent":
                settings["persistent"] = int(words[i + 1])
                i += 2
            elif word == "mask":
                settings["netmask"] = words[i + 1]
                i += 2
            elif word == "pe":
                settings["pe"] = words[i + 1]
                i += 2
            elif word == "ops":
                settings["ops"] = True
                i += 1
            else:
                raise ValueError(f"unknown service flag {word!r}")
        Service(key, **settings)
    except (IndexError, ValueError) as exc:
        raise ParseError(f"malformed service row ({exc})", lineno, line) from None
    return settings


def _number(token: str) -> int:
    """An ipvsadm counter: exact digits, or "123K"/"45M"... without --exact."""
    if token.isascii() and token.isdigit():
        return int(token)
    if token.isascii() and token[:-1].isdigit() and token[-1] in _SUFFIX:
        return int(token[:-1]) * _SUFFIX[token[-1]]
    raise ValueError(f"not a counter: {token!r}")


def _parse_counters(text: str, columns: list[str], row_type: type) -> CounterReport:
    services: dict[ServiceKey, Stats | Rates] = {}
    destinations: dict[DestRef, Stats | Rates] = {}
    current: ServiceKey | None = None
    titled = False
    for lineno, line, tokens in _lines(text):
        if _is_version_line(line):
            continue
        if tokens[:2] == ["Prot", "LocalAddress:Port"]:
            if tokens[2:] != columns:
                raise ParseError(f"expected columns {' '.join(columns)}", lineno, line)
            titled = True
            continue
        if tokens == ["->", "RemoteAddress:Port"]:
            continue
        if len(tokens) < 7:
            raise ParseError(f"expected a row with {len(columns)} counters", lineno, line)
        try:
            values = row_type(*(_number(t) for t in tokens[-5:]))
        except ValueError as exc:
            raise ParseError(str(exc), lineno, line) from None
        if tokens[0] == "->":
            if current is None:
                raise ParseError("destination row before any service", lineno, line)
            if len(tokens) != 7:
                raise ParseError("malformed destination row", lineno, line)
            address, port = _dest_endpoint(tokens[1], lineno, line)
            destinations[DestRef(current, address, port)] = values
        else:
            key, used = _label_key(tokens, lineno, line)
            if used + 5 != len(tokens):
                raise ParseError("malformed service row", lineno, line)
            current = key
            services[key] = values
    if services and not titled:
        raise ParseError(f"no header with columns {' '.join(columns)} found", 1,
                         text.splitlines()[0])
    return CounterReport(services, destinations)


def parse_stats(text: str) -> CounterReport:
    """`ipvsadm -L -n --exact --stats`: Conns InPkts OutPkts InBytes OutBytes per row."""
    return _parse_counters(text, _STATS_COLUMNS, Stats)


def parse_rate(text: str) -> CounterReport:
    """`ipvsadm -L -n --exact --rate`: CPS InPPS OutPPS InBPS OutBPS per row."""
    return _parse_counters(text, _RATE_COLUMNS, Rates)


__all__ = [
    "Connections", "CounterReport", "DestRef", "ListReport", "Rates", "Rule", "Stats",
    "parse_list", "parse_rate", "parse_rule", "parse_save", "parse_stats",
]
