"""The desired IPVS table of a director, from the database and health.

The rules (DESIGN.md, "Desired-table rules"):
- a virtual server contributes a service only while active;
- a real server contributes a destination while enabled and not known to be
  down (unknown health counts as up, so a new server is not held back by a
  checker that has not run yet);
- draining: weight 0, kept until its connections reach zero or the drain
  timeout passes;
- health down: removed, or weight 0 when the virtual server quiesces;
- nothing left up: the sorry server, weight 1;
- forwarding: the real server's override, else the virtual server's, else
  the global network type.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils import timezone

from lbadmin import validators
from lbadmin.models import ClusterSettings, Director

from . import ipvs
from .formats.validate import split_sched_flags
from .models import RealServer, VirtualServer
from .slow_start import desired_weight
from .vrrp_config import chosen_directors, served_by_chosen, served_by_group

IPVS_FORWARDING = {"nat": "masq", "direct": "route", "tunnel": "tunnel"}


@dataclass(frozen=True)
class LiveConnections:
    """Connections per destination as last seen on a director: (service, address, port) -> count."""
    counts: Mapping[tuple[ipvs.ServiceKey, str, int], int]

    def of(self, key: ipvs.ServiceKey, address: str, port: int) -> int | None:
        return self.counts.get((key, address, port))


def service_key(vs: VirtualServer) -> ipvs.ServiceKey:
    return key_of(vs.protocol, vs.address, vs.port, vs.fwmark)


def key_of(protocol: str, address: str, port: int, fwmark: int | None) -> ipvs.ServiceKey:
    if fwmark:
        return ipvs.ServiceKey.for_fwmark(fwmark, family=validators.family_of(address))
    return ipvs.ServiceKey(protocol, address, port)


def destination_port(vs: VirtualServer, rs_port: int | None, forwarding: str) -> int:
    if vs.fwmark:
        return rs_port or 0
    if forwarding in ("route", "tunnel"):
        return vs.port  # the kernel cannot change the port without NAT; ipvsadm forces it too
    return rs_port or vs.port


def _drain_over(rs: RealServer, key: ipvs.ServiceKey, port: int, live: LiveConnections | None, now) -> bool:
    deadline = rs.drain_deadline()
    if deadline is not None and now >= deadline:
        return True
    if live is None:
        return False
    count = live.of(key, ipvs.normalize_address(rs.address)[0], port)
    # Never seen in the live table: nothing to drain.
    return count is None or count == 0


def destinations_of(vs: VirtualServer, cluster: ClusterSettings, live: LiveConnections | None = None,
                    now=None) -> list[ipvs.Destination]:
    now = now or timezone.now()
    key = service_key(vs)
    result: list[ipvs.Destination] = []
    any_up = False
    check = vs.check_or_default()
    for rs in vs.real_servers.all():
        forwarding = IPVS_FORWARDING[rs.effective_forwarding(cluster)]
        port = destination_port(vs, rs.port, forwarding)
        if rs.admin_state == RealServer.AdminState.DISABLED:
            continue
        if rs.health == RealServer.Health.DOWN:
            if vs.quiesce_server and rs.admin_state == RealServer.AdminState.ENABLED:
                result.append(ipvs.Destination(rs.address, port, forwarding, 0))
            continue
        if rs.admin_state == RealServer.AdminState.DRAINING:
            if not _drain_over(rs, key, port, live, now):
                result.append(ipvs.Destination(rs.address, port, forwarding, 0))
            continue
        any_up = True
        result.append(ipvs.Destination(rs.address, port, forwarding, desired_weight(rs, check, now)))
    if not any_up and vs.sorry_server:
        forwarding = IPVS_FORWARDING[vs.effective_forwarding(cluster)]
        port = destination_port(vs, vs.sorry_port, forwarding)
        sorry = ipvs.Destination(vs.sorry_server, port, forwarding, 1)
        if sorry.key not in {d.key for d in result}:
            result.append(sorry)
    return result


def service_of(vs: VirtualServer, cluster: ClusterSettings, live: LiveConnections | None = None, now=None) -> ipvs.Service:
    persistent = vs.persistent or None
    netmask = (vs.pmask or None) if persistent else None
    return ipvs.Service(service_key(vs), scheduler=vs.scheduler, persistent=persistent, netmask=netmask,
                        sched_flags=split_sched_flags(vs.sched_flags),
                        destinations=destinations_of(vs, cluster, live, now))


def virtual_servers_for(director: Director | None, only: Iterable[int] | None = None) -> Iterable[VirtualServer]:
    servers = (VirtualServer.objects.filter(active=True).select_related("health_check")
               .prefetch_related("real_servers", "directors"))
    if only is not None:
        servers = servers.filter(pk__in=list(only))
    for vs in servers:
        if director is None or served_by_group(vs, director):
            yield vs


def desired_table(director: Director | None = None, live: LiveConnections | None = None, now=None,
                  only: Iterable[int] | None = None) -> ipvs.Table:
    """The whole table; with `only` (virtual server ids), just their services: a page that
    shows 20 services of 1,000 builds 20 (the whole one takes about 0.5 s at 1,000 x 8)."""
    cluster = ClusterSettings.load()
    return ipvs.Table(service_of(vs, cluster, live, now) for vs in virtual_servers_for(director, only))


def desired_table_touched(director: Director, baseline: ipvs.Table, touched: Iterable[int],
                          now=None) -> ipvs.Table | None:
    """The desired table when only the virtual servers `touched` changed since `baseline`
    (the table last verified on this director, which was the whole desired table then):
    the baseline's services of the other virtual servers, the touched ones built anew. So
    a change loads its own real servers, not the 8,000 of a big table.

    Which virtual servers the director serves, and on which keys, is read for all of them
    (no real servers: cheap), so a touched one deleted, deactivated, moved to another
    director or given a new address leaves its old service behind in no case. None (build
    the whole table) when the baseline cannot stand for the others: one of them is missing
    from it, or two virtual servers share a key."""
    touched = set(touched)
    # Rows, not objects: a thousand model instances cost what this whole change should.
    chosen = chosen_directors()
    others: set[ipvs.ServiceKey] = set()
    rows = VirtualServer.objects.filter(active=True).values_list("pk", "protocol", "address", "port", "fwmark")
    for pk, protocol, address, port, fwmark in rows:
        if pk in touched or not served_by_chosen(chosen.get(pk, ()), director):
            continue
        key = key_of(protocol, address, port, fwmark)
        if key in others or key not in baseline:
            return None
        others.add(key)
    cluster = ClusterSettings.load()
    fresh = [service_of(vs, cluster, None, now) for vs in virtual_servers_for(director, only=touched)]
    if len({s.key for s in fresh} | others) != len(fresh) + len(others):
        return None
    return ipvs.Table([*(service for key, service in baseline.items() if key in others), *fresh])


def desired_timeouts() -> tuple[int, int, int]:
    cluster = ClusterSettings.load()
    return cluster.tcp_timeout, cluster.tcpfin_timeout, cluster.udp_timeout
