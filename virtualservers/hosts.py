"""REAL SERVERS by host: every address with all the services it serves, and the actions
that touch one host everywhere (activate, deactivate, drain, add it to more services)
or several virtual servers at once.

A host is an address, not a row: the same CAS server is one real server row per virtual
server. Each action here is one transaction that locks the rows it changes, writes ONE
audit entry listing every row it touched (before and after) and asks for ONE reconcile
(configuration_changed: an outbox row per director, in the same transaction).
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from lbadmin import audit

from .health_facts import LastResult, last_results
from .models import RealServer, VirtualServer
from .tasks import configuration_changed

HOST_ACTIONS = {"activate": "activated", "deactivate": "deactivated", "drain": "drained"}
BULK_ACTIONS = {"activate": True, "deactivate": False}


def canonical(address: str) -> str:
    """The address as stored (ValueError for anything else)."""
    return str(ipaddress.ip_address(address.strip()))


def _order(address: str) -> tuple:
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))


def _service_order(rs: RealServer) -> tuple:
    vs = rs.virtual_server
    return (_order(vs.address), vs.fwmark or 0, vs.port, vs.protocol, vs.name, rs.name)


_STATE_LABELS = dict(RealServer.AdminState.choices)
_HEALTH_LABELS = dict(RealServer.Health.choices)


@dataclass(frozen=True)
class HostService:
    """One service of a host: its real server row there, the latest check, and the words
    and link the page shows (computed here: a page may list thousands)."""
    rs: RealServer
    last: LastResult | None
    service_url: str = ""

    @property
    def state_label(self) -> str:
        return _STATE_LABELS.get(self.rs.admin_state, self.rs.admin_state)

    @property
    def health_label(self) -> str:
        return _HEALTH_LABELS.get(self.rs.health, self.rs.health)

    @property
    def deadline(self):
        """When a drain ends at the latest (None unless draining): the countdown's end."""
        return self.rs.drain_deadline()


@dataclass
class Host:
    address: str
    services: list[HostService] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.address.replace(":", "-").replace(".", "-")

    @property
    def names(self) -> list[str]:
        """The names this address goes by, most used first."""
        return [name for name, _ in Counter(s.rs.name for s in self.services).most_common()]

    def count(self, state: str) -> int:
        return sum(s.rs.admin_state == state for s in self.services)

    @property
    def count_enabled(self) -> int:
        return self.count(RealServer.AdminState.ENABLED)

    @property
    def count_draining(self) -> int:
        return self.count(RealServer.AdminState.DRAINING)

    @property
    def count_disabled(self) -> int:
        return self.count(RealServer.AdminState.DISABLED)

    @property
    def health_summary(self) -> str:
        counts = Counter(s.health_label.lower() for s in self.services)
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))

    @property
    def can_activate(self) -> bool:
        return self.count(RealServer.AdminState.ENABLED) < len(self.services)

    @property
    def can_deactivate(self) -> bool:
        return self.count(RealServer.AdminState.DISABLED) < len(self.services)

    @property
    def can_drain(self) -> bool:
        return self.count(RealServer.AdminState.ENABLED) > 0


def addresses(text: str = "") -> list[str]:
    """Every host address in numeric order, or those whose address, a real server name or
    a service name there contains `text`: the list REAL SERVERS pages through."""
    rows = RealServer.objects.all()
    if text:
        rows = rows.filter(Q(address__icontains=text) | Q(name__icontains=text) | Q(virtual_server__name__icontains=text))
    return sorted(set(rows.values_list("address", flat=True)), key=_order)


def hosts(address: str | None = None, among: list[str] | None = None) -> list[Host]:
    """Every host (or the one at `address`, or those `among` a page of addresses), its
    services in VIP and port order (443 before 7575, whatever their names): one query,
    one Redis round trip."""
    rows = RealServer.objects.select_related("virtual_server")
    if address is not None:
        rows = rows.filter(address=address)
    if among is not None:
        rows = rows.filter(address__in=among)
    rows = list(rows)
    orders, urls = {}, {}
    for rs in rows:
        vs = rs.virtual_server
        if vs.pk not in orders:
            orders[vs.pk] = (_order(vs.address), vs.fwmark or 0, vs.port, vs.protocol, vs.name)
            urls[vs.pk] = reverse("real_list", args=[vs.pk])
    rows.sort(key=lambda rs: (orders[rs.virtual_server_id], rs.name))
    last = last_results([rs.pk for rs in rows])
    by_address: dict[str, Host] = {}
    for rs in rows:
        service = HostService(rs, last.get(rs.pk), urls[rs.virtual_server_id])
        by_address.setdefault(rs.address, Host(rs.address)).services.append(service)
    return [by_address[a] for a in sorted(by_address, key=_order)]


def _target_state(rs: RealServer, action: str) -> str | None:
    """The action applied to one row of the host, or None when it leaves the row alone:
    a drain takes only enabled rows (a disabled one carries no traffic, a draining one
    keeps its clock)."""
    if action == "drain":
        return "drain" if rs.admin_state == RealServer.AdminState.ENABLED else None
    wanted = RealServer.ACTIONS[action]
    return action if rs.admin_state != wanted else None


def _label(rs: RealServer) -> str:
    return f"{rs.virtual_server.name} {rs.name}"


def act_on_host(address: str, action: str) -> list[RealServer]:
    """activate, deactivate or drain every real server at `address`; the rows changed."""
    if action not in HOST_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    with transaction.atomic():
        rows = sorted(RealServer.objects.select_for_update().select_related("virtual_server").filter(address=address),
                      key=_service_order)
        touched, before, after = [], {}, {}
        for rs in rows:
            step = _target_state(rs, action)
            if step is None:
                continue
            before[_label(rs)] = rs.admin_state
            rs.set_admin_state(step)
            rs.save(update_fields=["admin_state", "drain_started_at"])
            after[_label(rs)] = rs.admin_state
            touched.append(rs)
        if touched:
            services = ", ".join(f"{rs.virtual_server.name} ({rs.name})" for rs in touched)
            audit.record(action, None, object_type="Host", object_repr=address, before=before, after=after,
                         message=f"{action} {address} on {len(touched)} service{'s' if len(touched) != 1 else ''}: {services}")
            configuration_changed(f"host {action}")
    return touched


def bulk_virtual(pks: list[int], action: str) -> list[VirtualServer]:
    """Activate or deactivate the chosen virtual servers; the ones changed."""
    active = BULK_ACTIONS[action]
    with transaction.atomic():
        rows = list(VirtualServer.objects.select_for_update().filter(pk__in=pks).order_by("name"))
        touched = [vs for vs in rows if vs.active != active]
        for vs in touched:
            vs.active = active
            vs.save(update_fields=["active", "updated_at"])
        if touched:
            names = ", ".join(vs.name for vs in touched)
            audit.record(action, None, object_type="VirtualServer", object_repr=names,
                         before={vs.name: not active for vs in touched}, after={vs.name: active for vs in touched},
                         message=f"{action} {len(touched)} virtual server{'s' if len(touched) != 1 else ''}: {names}")
            configuration_changed(f"virtual servers {action}d")
    return touched


def candidate_services(address: str):
    """The virtual servers of the host's address family that it does not serve yet."""
    family = ipaddress.ip_address(address).version
    served = RealServer.objects.filter(address=address).values("virtual_server_id")
    return [vs for vs in VirtualServer.objects.exclude(pk__in=served).order_by("name") if vs.family == family]


def add_host(address: str, name: str, services: list[VirtualServer], *, port: int | None = None,
             weight: int = 1, active: bool = True) -> list[RealServer]:
    """The host as a real server of each of `services`, all or none; ValidationError
    (naming the service) when one refuses it."""
    state = RealServer.AdminState.ENABLED if active else RealServer.AdminState.DISABLED
    with transaction.atomic():
        created = []
        for vs in services:
            rs = RealServer(virtual_server=vs, name=name, address=address, port=port, weight=weight, admin_state=state)
            try:
                rs.full_clean()
            except ValidationError as exc:
                raise ValidationError([f"{vs.name}: {m}" for m in exc.messages]) from None
            rs.save()
            created.append(rs)
        if created:
            audit.record("create", None, object_type="Host", object_repr=address,
                         after={_label(rs): rs.admin_state for rs in created},
                         message=f"add {address} as {name} to {', '.join(vs.name for vs in services)}")
            configuration_changed("host added to services")
    return created
