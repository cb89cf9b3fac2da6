"""The kernel IPVS table as immutable values.

A Table holds Services keyed by ServiceKey; a Service holds Destinations keyed by
DestKey (address, port). Two tables are equal exactly when the kernel would hold the
same state, which is what reconcile compares. Every value is validated on creation,
and every string that can reach an `ipvsadm -R` line is restricted to a safe charset,
so rendering a table can never smuggle an extra token or command into a batch.

Thresholds (u_threshold, l_threshold) are kernel state but `ipvsadm -S` does not print
them, so a table parsed from a save always has them at 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from .addresses import address_order, format_endpoint, normalize_address
from .order import sorted_destinations, sorted_services

Kind = Literal["tcp", "udp", "sctp", "fwmark"]
Forwarding = Literal["masq", "route", "tunnel"]

KINDS = ("tcp", "udp", "sctp", "fwmark")
FORWARDINGS = ("masq", "route", "tunnel")
# The schedulers a stock kernel ships (ip_vs_*.ko); the kernel loads them by name.
# The configuration's list (formats/choices.py SCHEDULER_CHOICES) is proven equal by
# tests/test_rules_single_source.py: this package imports nothing from formats.
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq",
              "mh", "fo", "ovf", "twos")
MAX_TIMEOUT = 86400 * 31   # ipvsadm's limit for -p and --set values (31 days)
MAX_FWMARK = 0xFFFFFFFF
DEFAULT_PERSISTENCE = 300  # what `-p` without a value gives

# Kernel flag bits behind -b. ipvsadm (1.31, seen in the lab) names bits 1 and 2 after the
# scheduler that reads them, in what it accepts and in what it prints ("-s mh -b flag-1"
# is listed as "mh (mh-fallback)"); other schedulers read no flag and show flag-N.
# The configuration's list (formats/choices.py SCHED_FLAG_CHOICES) is proven equal by
# tests/test_rules_single_source.py.
SCHED_FLAGS = {"sh": ("sh-fallback", "sh-port"), "mh": ("mh-fallback", "mh-port")}
_SCHED_FLAG_BITS = {"flag-1": 1, "flag-2": 2, "flag-3": 4,
                    "sh-fallback": 1, "sh-port": 2, "mh-fallback": 1, "mh-port": 2}
_NAME_RE = re.compile(r"[a-z0-9_]{1,15}\Z")   # IP_VS_SCHEDNAME_MAXLEN / PENAME_MAXLEN


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer {low}..{high}, got {value!r}")


class DestKey(NamedTuple):
    """What identifies a destination within its service."""
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """What identifies a virtual service in the kernel.

    kind 'tcp'/'udp'/'sctp' use address and port; 'fwmark' uses fwmark and family
    (address '' and port 0). family 0 means "infer": from the address, or 4 for fwmark.
    """
    kind: Kind
    address: str = ""
    port: int = 0
    fwmark: int = 0
    family: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"service kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "fwmark":
            _check_int("fwmark", self.fwmark, 1, MAX_FWMARK)
            if self.address or self.port:
                raise ValueError("a fwmark service has no address or port")
            family = self.family or 4
        else:
            if self.fwmark:
                raise ValueError(f"a {self.kind} service has no fwmark")
            _check_int("port", self.port, 0, 65535)
            address, family = normalize_address(self.address)
            if self.family and self.family != family:
                raise ValueError(f"{self.address} is not an IPv{self.family} address")
            object.__setattr__(self, "address", address)
        if family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, got {family!r}")
        object.__setattr__(self, "family", family)

    @classmethod
    def for_fwmark(cls, fwmark: int, family: int = 4) -> ServiceKey:
        return cls("fwmark", fwmark=fwmark, family=family)

    @property
    def is_fwmark(self) -> bool:
        return self.kind == "fwmark"

    @property
    def options(self) -> tuple[str, ...]:
        """The argv items that name this service: ('-t', '192.0.2.1:80'), ('-f', '1', '-6')."""
        if self.kind == "fwmark":
            return ("-f", str(self.fwmark), "-6") if self.family == 6 else ("-f", str(self.fwmark))
        return (_KIND_OPTION[self.kind], format_endpoint(self.address, self.port))

    @property
    def label(self) -> str:
        """How `ipvsadm -L -n` names it: "TCP  192.0.2.1:80", "FWM  1 IPv6"."""
        if self.kind == "fwmark":
            return f"FWM  {self.fwmark} IPv6" if self.family == 6 else f"FWM  {self.fwmark}"
        return f"{self.kind.upper():<4} {format_endpoint(self.address, self.port)}"

    def sort_key(self) -> tuple[int, int, int, int, int]:
        """Numeric order: fwmark, family, protocol number, address, port.

        ipvsadm's own order (Table.sorted) is this one unless 32-bit differences wrap.
        """
        address = address_order(self.address) if self.address else 0
        return (self.fwmark, _AF[self.family], _PROTO_NUMBER[self.kind], address, self.port)

    def __str__(self) -> str:
        return " ".join(self.options)


_KIND_OPTION = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}
_PROTO_NUMBER = {"tcp": 6, "udp": 17, "sctp": 132, "fwmark": 6}  # fwmark is stored as TCP
_AF = {4: 2, 6: 10}


@dataclass(frozen=True)
class Destination:
    """A real server inside a service, as the kernel holds it.

    Not slotted, unlike the other classes: parse_save builds thousands of these and
    fills each instance dict in one step with values it has already validated.
    """
    address: str
    port: int
    forwarding: Forwarding = "route"   # ipvsadm's default (-g)
    weight: int = 1
    u_threshold: int = 0
    l_threshold: int = 0
    key: DestKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Written inline rather than through helpers: parse_save builds thousands.
        address = normalize_address(self.address)[0]
        port, weight = self.port, self.weight
        if type(port) is not int or not 0 <= port <= 65535:
            _check_int("port", port, 0, 65535)
        if self.forwarding not in FORWARDINGS:
            raise ValueError(f"forwarding must be one of {FORWARDINGS}, got {self.forwarding!r}")
        if type(weight) is not int or not 0 <= weight <= 65535:
            _check_int("weight", weight, 0, 65535)
        if self.u_threshold or self.l_threshold or type(self.u_threshold) is not int \
                or type(self.l_threshold) is not int:
            _check_int("u_threshold", self.u_threshold, 0, 2**31 - 1)
            _check_int("l_threshold", self.l_threshold, 0, 2**31 - 1)
            if self.l_threshold > self.u_threshold:
                # The kernel refuses it (ERANGE), so no real table can hold it.
                raise ValueError("l_threshold must not exceed u_threshold")
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "key", DestKey(address, port))

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def endpoint(self) -> str:
        return format_endpoint(self.address, self.port)

    def sort_key(self) -> tuple[int, int]:
        return (address_order(self.address), self.port)


class DestinationMap(Mapping[DestKey, Destination]):
    """An immutable, hashable mapping DestKey -> Destination."""
    __slots__ = ("_items", "_hash")

    def __init__(self, destinations: Iterable[Destination] | Mapping[DestKey, Destination] = ()):
        items: dict[DestKey, Destination] = {}
        values = destinations.values() if isinstance(destinations, Mapping) else destinations
        for dest in values:
            if not isinstance(dest, Destination):
                raise TypeError(f"expected a Destination, got {type(dest).__name__}")
            if dest.key in items:
                raise ValueError(f"destination {dest.endpoint} appears twice")
            items[dest.key] = dest
        self._items = items
        self._hash: int | None = None

    def __getitem__(self, key: DestKey) -> Destination:
        return self._items[key]

    def __iter__(self) -> Iterator[DestKey]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # The dict's own views: much faster than the Mapping mixins, and read-only.
    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def get(self, key, default=None):
        return self._items.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DestinationMap):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.values()))
        return self._hash

    def __repr__(self) -> str:
        return f"DestinationMap({list(self._items.values())!r})"

    def sorted(self) -> list[Destination]:
        """Destinations in ipvsadm's listing order."""
        return sorted_destinations(self._items.values())


@dataclass(frozen=True, slots=True)
class Service:
    """A virtual service: its settings and its destinations.

    persistent: timeout in seconds, or None when not persistent.
    netmask: persistence granularity as `ipvsadm -S` prints it ("255.255.255.0" for
    IPv4, "64" for IPv6), None for the default (/32, /128). Only kept when persistent,
    because that is the only time ipvsadm shows it.
    pe: persistence engine ("sip"), ops: one-packet scheduling (-o),
    sched_flags: -b flags, normalized to ipvsadm's names for the scheduler.
    destinations: given as any iterable of Destination; stored as a DestinationMap.
    """
    key: ServiceKey
    scheduler: str = "wlc"
    persistent: int | None = None
    netmask: str | None = None
    pe: str | None = None
    ops: bool = False
    sched_flags: tuple[str, ...] = ()
    destinations: DestinationMap = field(default_factory=DestinationMap)

    def __post_init__(self) -> None:
        if not isinstance(self.key, ServiceKey):
            raise TypeError("key must be a ServiceKey")
        if not isinstance(self.scheduler, str) or not _NAME_RE.match(self.scheduler):
            raise ValueError(f"bad scheduler name {self.scheduler!r}")
        if self.persistent is not None:
            _check_int("persistent", self.persistent, 1, MAX_TIMEOUT)
            object.__setattr__(self, "netmask", _normalize_netmask(self.netmask, self.key.family))
        elif self.netmask is not None:
            raise ValueError("a persistence netmask needs a persistent service")
        if self.pe is not None and (not isinstance(self.pe, str) or not _NAME_RE.match(self.pe)):
            raise ValueError(f"bad persistence engine name {self.pe!r}")
        if not isinstance(self.ops, bool):
            raise ValueError("ops must be a bool")
        object.__setattr__(self, "sched_flags",
                           normalize_sched_flags(self.sched_flags, self.scheduler))
        if not isinstance(self.destinations, DestinationMap):
            object.__setattr__(self, "destinations", DestinationMap(self.destinations))

    @property
    def settings(self) -> tuple:
        """Everything `ipvsadm -E` sets: equal settings mean no -E is needed."""
        return (self.scheduler, self.persistent, self.netmask, self.pe, self.ops,
                self.sched_flags)

    def with_destinations(self, destinations: Iterable[Destination]) -> Service:
        return replace(self, destinations=DestinationMap(destinations))


def _normalize_netmask(netmask: str | None, family: int) -> str | None:
    if netmask is None:
        return None
    text = str(netmask)
    if family == 6:
        if not text.isdigit() or not 1 <= int(text) <= 128:
            raise ValueError(f"an IPv6 persistence netmask is a prefix length 1..128, got {netmask!r}")
        return None if int(text) == 128 else str(int(text))
    try:
        address, family_seen = normalize_address(text)
    except ValueError:
        family_seen = 0
    if family_seen != 4:
        raise ValueError(f"an IPv4 persistence netmask is dotted (255.255.255.0), got {netmask!r}")
    return None if address == "255.255.255.255" else address


def normalize_sched_flags(flags: Iterable[str], scheduler: str) -> tuple[str, ...]:
    """-b flags in ipvsadm's printing order and naming for this scheduler."""
    if isinstance(flags, str):
        flags = [f for f in flags.split(",") if f]
    bits = 0
    for flag in flags:
        if flag not in _SCHED_FLAG_BITS:
            raise ValueError(f"unknown scheduler flag {flag!r}")
        owner = flag.split("-")[0]
        if owner in SCHED_FLAGS and scheduler != owner:
            raise ValueError(f"scheduler flag {flag!r} needs the {owner} scheduler")
        bits |= _SCHED_FLAG_BITS[flag]
    names = (*SCHED_FLAGS.get(scheduler, ("flag-1", "flag-2")), "flag-3")
    return tuple(name for bit, name in zip((1, 2, 4), names) if bits & bit)


class Table(Mapping[ServiceKey, Service]):
    """The whole IPVS table: an immutable mapping ServiceKey -> Service."""
    __slots__ = ("_services",)

    def __init__(self, services: Iterable[Service] | Mapping[ServiceKey, Service] = ()):
        table: dict[ServiceKey, Service] = {}
        values = services.values() if isinstance(services, Mapping) else services
        for service in values:
            if not isinstance(service, Service):
                raise TypeError(f"expected a Service, got {type(service).__name__}")
            if service.key in table:
                raise ValueError(f"service {service.key} appears twice")
            table[service.key] = service
        self._services = table

    def __getitem__(self, key: ServiceKey) -> Service:
        return self._services[key]

    def __iter__(self) -> Iterator[ServiceKey]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    def __contains__(self, key: object) -> bool:
        return key in self._services

    def keys(self):
        return self._services.keys()

    def values(self):
        return self._services.values()

    def items(self):
        return self._services.items()

    def get(self, key, default=None):
        return self._services.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Table):
            return self._services == other._services
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equality by content, like a dict

    def __repr__(self) -> str:
        return f"Table({self.sorted()!r})"

    def sorted(self) -> list[Service]:
        """Services in ipvsadm's listing order."""
        return sorted_services(self._services.values())

    @property
    def destination_count(self) -> int:
        return sum(len(s.destinations) for s in self._services.values())
