"""What the live poll last saw of each draining real server, for its row's countdown.

A drain waits for the connections of the server and, on a persistent service, for the
persistence templates that still send returning clients to it (`ipvsadm -L -n -c`,
counted by ipvs.count_per_destination). The live poller (monitoring.live_poller) reads
them once per poll of a director, only while some server drains, and writes them here;
the REAL SERVER rows read them in one Redis round trip.

    lbadmin:drain:<rs id>   hash: director id -> JSON {"at", "connections", "templates", "in_table"}
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lbadmin.models import ClusterSettings
from lbadmin.redis_client import get_redis

from . import ipvs
from .desired import IPVS_FORWARDING, destination_port, service_key
from .models import RealServer

KEY = "lbadmin:drain:{}"
TTL = 120  # seconds: a fact older than a minute of polls is gone rather than shown as current


def draining_destinations() -> dict[int, tuple[RealServer, ipvs.DestRef]]:
    """rs id -> (the draining real server, its destination in the kernel table)."""
    cluster = ClusterSettings.load()
    found = {}
    servers = RealServer.objects.filter(admin_state=RealServer.AdminState.DRAINING,
                                        virtual_server__active=True).select_related("virtual_server")
    for rs in servers:
        vs = rs.virtual_server
        port = destination_port(vs, rs.port, IPVS_FORWARDING[rs.effective_forwarding(cluster)])
        found[rs.pk] = (rs, ipvs.DestRef(service_key(vs), ipvs.normalize_address(rs.address)[0], port))
    return found


def in_table(ref: ipvs.DestRef, table: ipvs.Table) -> bool:
    service = table.get(ref.service)
    return service is not None and ipvs.DestKey(ref.address, ref.port) in service.destinations


def record(director_id: int, draining: Mapping[int, tuple[RealServer, ipvs.DestRef]],
           counts: Mapping[ipvs.DestRef, ipvs.DrainCount], table: ipvs.Table, now: float | None = None) -> None:
    now = time.time() if now is None else now
    pipe = get_redis().pipeline()
    for rs_id, (_, ref) in draining.items():
        count = counts.get(ref, ipvs.DrainCount())
        pipe.hset(KEY.format(rs_id), str(director_id), json.dumps(
            {"at": now, "connections": count.connections, "templates": count.templates,
             "in_table": in_table(ref, table)}))
        pipe.expire(KEY.format(rs_id), TTL)
    pipe.execute()


@dataclass(frozen=True, slots=True)
class DrainFact:
    """A draining server as its directors last showed it (summed over them)."""
    connections: int
    templates: int
    in_table: bool     # still in some director's kernel table
    at: float          # the oldest reading

    @property
    def line(self) -> str:
        if not self.in_table:
            return "removed from the kernel table: drain over"
        parts = [f"{self.connections} connection{'s' * (self.connections != 1)}"]
        if self.templates:
            parts.append(f"{self.templates} persistence template{'s' * (self.templates != 1)}")
        return ", ".join(parts) + " left"


def drain_facts(rs_ids: Sequence[int], since: Mapping[int, float] | None = None) -> dict[int, DrainFact]:
    """The latest facts of these real servers; readings older than `since[rs_id]` (the
    drain's start, as a UNIX time) are from an earlier drain and left out."""
    if not rs_ids:
        return {}
    try:
        pipe = get_redis().pipeline()
        for rs_id in rs_ids:
            pipe.hgetall(KEY.format(rs_id))
        replies = pipe.execute()
    except Exception:  # the page still renders from the database without Redis
        return {}
    found = {}
    for rs_id, reply in zip(rs_ids, replies):
        readings = [json.loads(value) for value in (reply or {}).values()]
        readings = [r for r in readings if r["at"] >= (since or {}).get(rs_id, 0)]
        if readings:
            found[rs_id] = DrainFact(sum(r["connections"] for r in readings), sum(r["templates"] for r in readings),
                                     any(r["in_table"] for r in readings), min(r["at"] for r in readings))
    return found
