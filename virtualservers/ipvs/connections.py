"""`ipvsadm -L -n -c`: the kernel's connection entries, and what they tell about a
draining real server.

    IPVS connection entries
    pro expire state       source             virtual            destination
    TCP 14:58  ESTABLISHED 10.20.0.2:53012    10.20.0.101:80     10.10.0.13:80
    TCP 239:58 ASSURED     10.20.0.2:0        10.20.0.101:80     10.10.0.13:80
    TCP 09:48  ASSURED     10.20.0.2:0        10.20.0.100:65535  10.10.0.12:65535

A persistence template is an entry with client port 0: it sends that client (or its
netmask's network) back to the same real server for the service's persistence timeout,
even at weight 0, unless net.ipv4.vs.expire_quiescent_template is set. Its state is
ASSURED on the lab's 6.12 kernel (NONE on older ones); it is told by the port, not the
state. With expire_quiescent_template set, the kernel invalidates a template that points
at a weight-0 server when the client comes back: virtual and destination ports become
65535 and the template lingers, sending nobody anywhere, until it expires. Such a
template is not counted.

A fwmark service's template has protocol "IP" and the mark as its virtual address
(the kernel stores htonl(mark) in the address: 0.0.0.7 for mark 7). That form comes from
the kernel source, not from the lab, whose guest has no tool to mark packets.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from .addresses import normalize_address
from .errors import ParseError
from .model import DestKey, ServiceKey, Table
from .parse import DestRef

INVALIDATED_PORT = 65535
_KINDS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
# A connection a drain waits for: an established TCP or SCTP one (a closed one lingers in
# TIME_WAIT for minutes carrying nothing), and any UDP entry (UDP has no established state).
_CARRYING_STATES = {"ESTABLISHED", "UDP"}


@dataclass(frozen=True, slots=True)
class ConnectionEntry:
    protocol: str                 # TCP, UDP, SCTP, or IP for a fwmark template
    expires: int                  # seconds left
    state: str
    client: tuple[str, int]
    virtual: tuple[str, int]
    destination: tuple[str, int]

    @property
    def is_template(self) -> bool:
        return self.client[1] == 0

    @property
    def is_invalidated(self) -> bool:
        """A template the kernel emptied (expire_quiescent_template): it sends nobody anywhere."""
        return self.is_template and self.virtual[1] == INVALIDATED_PORT \
            and self.destination[1] == INVALIDATED_PORT

    @property
    def carries_traffic(self) -> bool:
        return not self.is_template and self.state in _CARRYING_STATES


@dataclass(frozen=True, slots=True)
class DrainCount:
    """What still ties clients to one destination."""
    connections: int = 0   # established TCP/SCTP connections and UDP entries
    templates: int = 0     # live persistence templates pointing at it


def _endpoint(text: str, lineno: int, line: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ParseError(f"not an address:port: {text!r}", lineno, line)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return normalize_address(host)[0], int(port)
    except ValueError as exc:
        raise ParseError(str(exc), lineno, line) from None


def _seconds(text: str, lineno: int, line: str) -> int:
    minutes, sep, seconds = text.partition(":")
    if not sep or not minutes.isdigit() or not seconds.isdigit():
        raise ParseError(f"not an expiry mm:ss: {text!r}", lineno, line)
    return int(minutes) * 60 + int(seconds)


def parse_connections(text: str) -> list[ConnectionEntry]:
    """The entries of `ipvsadm -L -n -c` (the two heading lines are skipped)."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or line.startswith("IPVS connection entries") or words[0] == "pro":
            continue
        if len(words) < 6:
            raise ParseError("a connection entry has six columns", lineno, line)
        protocol, expires, state, client, virtual, destination = words[:6]
        entries.append(ConnectionEntry(protocol, _seconds(expires, lineno, line), state,
                                       _endpoint(client, lineno, line), _endpoint(virtual, lineno, line),
                                       _endpoint(destination, lineno, line)))
    return entries


def _fwmark_of(address: str) -> tuple[int, int]:
    """(mark, family) of a fwmark template's virtual address: the mark sits in the
    address's first 32 bits."""
    parsed = ipaddress.ip_address(address)
    return int(parsed) >> (parsed.max_prefixlen - 32), parsed.version


def _service_of(entry: ConnectionEntry, table: Table) -> ServiceKey | None:
    address, port = entry.virtual
    if entry.protocol == "IP" and entry.is_template:
        mark, family = _fwmark_of(address)
        key = ServiceKey.for_fwmark(mark, family) if mark else None
        return key if key in table else None
    kind = _KINDS.get(entry.protocol)
    if kind is None:
        return None
    for candidate in (ServiceKey(kind, address, port), ServiceKey(kind, address, 0)):
        if candidate in table:
            return candidate
    # A fwmark service's connection names the packet's own address: the service is the
    # one fwmark service of that family holding the destination, if there is exactly one.
    family = 6 if ":" in address else 4
    dest_address, dest_port = entry.destination
    owners = [key for key, service in table.items()
              if key.is_fwmark and key.family == family
              and (DestKey(dest_address, dest_port) in service.destinations
                   or DestKey(dest_address, 0) in service.destinations)]
    return owners[0] if len(owners) == 1 else None


def _dest_ref(entry: ConnectionEntry, key: ServiceKey, table: Table) -> DestRef | None:
    address, port = entry.destination
    destinations = table[key].destinations
    for candidate in (DestKey(address, port), DestKey(address, 0)):
        if candidate in destinations:
            return DestRef(key, candidate.address, candidate.port)
    return None


def count_per_destination(entries: Iterable[ConnectionEntry], table: Table) -> dict[DestRef, DrainCount]:
    """Connections and live templates per destination of `table` (the live table read in
    the same poll). Entries of services or destinations no longer in it are left out."""
    counts: dict[DestRef, list[int]] = {}
    for entry in entries:
        if entry.is_invalidated or not (entry.is_template or entry.carries_traffic):
            continue
        key = _service_of(entry, table)
        ref = _dest_ref(entry, key, table) if key is not None else None
        if ref is None:
            continue
        tally = counts.setdefault(ref, [0, 0])
        tally[1 if entry.is_template else 0] += 1
    return {ref: DrainCount(*tally) for ref, tally in counts.items()}
