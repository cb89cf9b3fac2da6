"""What taking real servers out does to their services, said before it is done.

Deactivating, draining or deleting the last real server that serves an active virtual
server leaves that VIP with nobody behind it: its sorry server answers, or its traffic
fails. The views (and any later API) refuse such a change unless it comes with
`confirm=yes`, and show these consequences instead (REAL SERVER rows, and a host's
servers taken out together, which may empty several services at once).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import ipvs
from .models import RealServer, VirtualServer

CONFIRM_FIELD, CONFIRM_VALUE = "confirm", "yes"
# Actions that take a server out of its service's rotation.
TAKES_OUT = ("deactivate", "drain", "delete")


@dataclass(frozen=True)
class Consequence:
    vs: VirtualServer
    outcome: str   # what happens to the VIP's traffic, in words

    @property
    def fails(self) -> bool:
        return not self.vs.sorry_server


def serves(rs: RealServer) -> bool:
    """Takes new connections now: enabled by the operator and not seen down."""
    return rs.admin_state == RealServer.AdminState.ENABLED and rs.health != RealServer.Health.DOWN


def _sorry_endpoint(vs: VirtualServer) -> str:
    # A fwmark service's sorry server without a port keeps each packet's own port.
    port = vs.sorry_port or (0 if vs.fwmark else vs.port)
    return ipvs.format_endpoint(vs.sorry_server, port) if port else vs.sorry_server


def consequences(action: str, servers: Iterable[RealServer]) -> list[Consequence]:
    """The active virtual servers that `action` on `servers` leaves with no serving real
    server, each with what then happens to its traffic; [] when nothing is harmed."""
    if action not in TAKES_OUT:
        return []
    leaving: dict[int, set[int]] = {}
    for rs in servers:
        if serves(rs):
            leaving.setdefault(rs.virtual_server_id, set()).add(rs.pk)
    found = []
    for vs in VirtualServer.objects.filter(pk__in=leaving, active=True).prefetch_related("real_servers"):
        if any(serves(rs) and rs.pk not in leaving[vs.pk] for rs in vs.real_servers.all()):
            continue
        if vs.sorry_server:
            outcome = f"the sorry server {_sorry_endpoint(vs)} answers for {vs.endpoint} instead"
        else:
            outcome = f"traffic for {vs.endpoint} fails: no real server is left behind it"
        found.append(Consequence(vs, outcome))
    return sorted(found, key=lambda c: c.vs.name)


def confirmed(data) -> bool:
    return data.get(CONFIRM_FIELD) == CONFIRM_VALUE
