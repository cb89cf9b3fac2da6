"""A director's kernel as text, for the live poller: what `ipvsadm -L -n --exact` (plain,
--stats, --rate) and `ipvsadm -S -n` print for a table of services, so benches and tests put
a snapshot into Redis the way the poller does (monitoring.live_poller.poll_director), not by
hand. Here, not in tests/, because the benches use it and nothing outside tests/ imports the
tests (tests/test_lab_layering.py); tests/metrics_kernel.py adds the tests' poll()."""
from __future__ import annotations

from dataclasses import dataclass, field

from virtualservers.ipvs import RunResult

HEAD = "IP Virtual Server version 1.2.1 (size=4096)\n"
FORWARD = {"route": ("Route", "-g"), "masq": ("Masq", "-m"), "tunnel": ("Tunnel", "-i")}


@dataclass
class Dest:
    address: str
    port: int
    weight: int = 1
    active: int = 0
    inactive: int = 0
    forwarding: str = "route"
    stats: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # conns inpkts outpkts inbytes outbytes
    rates: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # cps inpps outpps inbps outbps


@dataclass
class Service:
    address: str
    port: int
    proto: str = "tcp"
    scheduler: str = "rr"
    dests: list[Dest] = field(default_factory=list)
    stats: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    rates: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def _ep(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def list_text(services: list[Service]) -> str:
    lines = [HEAD, "Prot LocalAddress:Port Scheduler Flags\n",
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"]
    for s in services:
        lines.append(f"{s.proto.upper():<4} {s.endpoint} {s.scheduler}\n")
        for d in s.dests:
            lines.append(f"  -> {_ep(d.address, d.port)}  {FORWARD[d.forwarding][0]} {d.weight} {d.active} {d.inactive}\n")
    return "".join(lines)


def counters_text(services: list[Service], columns: str, rates: bool = False) -> str:
    lines = [HEAD, f"Prot LocalAddress:Port {columns}\n", "  -> RemoteAddress:Port\n"]
    for s in services:
        values = s.rates if rates else s.stats
        lines.append(f"{s.proto.upper():<4} {s.endpoint} " + " ".join(map(str, values)) + "\n")
        for d in s.dests:
            values = d.rates if rates else d.stats
            lines.append(f"  -> {_ep(d.address, d.port)} " + " ".join(map(str, values)) + "\n")
    return "".join(lines)


def save_text(services: list[Service]) -> str:
    lines = []
    for s in services:
        option = {"tcp": "-t", "udp": "-u"}[s.proto]
        lines.append(f"-A {option} {s.endpoint} -s {s.scheduler}\n")
        for d in s.dests:
            lines.append(f"-a {option} {s.endpoint} -r {_ep(d.address, d.port)} {FORWARD[d.forwarding][1]} -w {d.weight}\n")
    return "".join(lines)


class FakeKernel:
    """An Executor (virtualservers.ipvs.Executor) that only reads, from `services`."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services

    def list_text(self, kind: str = "list") -> str:
        if kind == "stats":
            return counters_text(self.services, "Conns InPkts OutPkts InBytes OutBytes")
        if kind == "rate":
            return counters_text(self.services, "CPS InPPS OutPPS InBPS OutBPS", rates=True)
        if kind == "connections":  # read while a server drains: no connection entries here
            return "IPVS connection entries\npro expire state       source             virtual            destination\n"
        if kind != "list":
            raise AssertionError(f"the fake kernel has no {kind!r} listing")
        return list_text(self.services)

    def list_texts(self, kinds):  # the poll's one round trip
        return {kind: self.list_text(kind) for kind in kinds}

    def save(self) -> str:
        return save_text(self.services)

    def run(self, argv, stdin=None) -> RunResult:
        raise AssertionError("a poll only reads")

    def close(self) -> None:
        pass
