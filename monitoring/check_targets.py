"""What the health checker checks: one CheckTarget per real server of every active
virtual server, built from the virtual server's check and the real server's check
address (keepalived's connect_ip / connect_port)."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from django.conf import settings

from monitoring.checks import CheckSpec, spec_from_fields
from virtualservers.models import HealthCheck, RealServer, VirtualServer


@dataclass(frozen=True, slots=True)
class CheckTarget:
    """One real server's check, with the counting rules of its virtual server's check."""

    rs_id: int
    vs_id: int
    spec: CheckSpec
    interval: float
    rise: int = 2
    fall: int = 3
    initial_state: str = "up"
    slow_start: int = 0


@dataclass(frozen=True, slots=True)
class RealServerHealth:
    """The database's view of one real server, read with the targets."""

    health: str
    since: datetime.datetime | None


def program_policy() -> dict[str, str]:
    """The operator's rules for program checks, from this process's settings: where the
    checks run (the worker) is where they are read, never what a request carries."""
    return {"program_dir": settings.LBADMIN_CHECK_PROGRAM_DIR, "program_user": settings.LBADMIN_CHECK_PROGRAM_USER}


def target_for(rs: RealServer, check: HealthCheck | object | None = None) -> CheckTarget:
    """The target for one real server; `check` may be unsaved form data (try it)."""
    check = check or rs.virtual_server.check_or_default()
    host, port = rs.check_target
    spec = spec_from_fields(check, host=host, port=port, **program_policy())
    return CheckTarget(rs.pk, rs.virtual_server_id, spec, float(getattr(check, "interval", 6) or 6),
                       int(getattr(check, "rise", 2) or 2), int(getattr(check, "fall", 3) or 3),
                       getattr(check, "initial_state", "up") or "up", int(getattr(check, "slow_start", 0) or 0))


class TargetLoader:
    """Reads every real server of every active virtual server, cheaply enough to do each
    second: plain value rows, and a CheckSpec rebuilt only when its inputs changed."""

    def __init__(self) -> None:
        self._templates: dict[int, tuple[tuple, CheckTarget]] = {}
        self._targets: dict[int, tuple[tuple, CheckTarget]] = {}

    def load(self) -> tuple[dict[int, CheckTarget], dict[int, RealServerHealth]]:
        templates: dict[int, tuple[tuple, CheckTarget]] = {}
        vs_ports: dict[int, int] = {}
        checks = {hc.virtual_server_id: hc for hc in HealthCheck.objects.filter(virtual_server__active=True)}
        for vs_id, vs_port in VirtualServer.objects.filter(active=True).values_list("pk", "port"):
            vs_ports[vs_id] = vs_port
            check = checks.get(vs_id) or HealthCheck()
            key = tuple(getattr(check, f.attname) for f in HealthCheck._meta.concrete_fields if not f.primary_key)
            known = self._templates.get(vs_id)
            templates[vs_id] = known if known and known[0] == key else (key, _template(vs_id, check))
        self._templates = templates

        targets: dict[int, CheckTarget] = {}
        health: dict[int, RealServerHealth] = {}
        cache: dict[int, tuple[tuple, CheckTarget]] = {}
        rows = RealServer.objects.filter(virtual_server_id__in=list(vs_ports)).values_list(
            "pk", "virtual_server_id", "address", "port", "check_address", "check_port", "health", "health_since")
        for rs_id, vs_id, address, port, check_address, check_port, state, since in rows:
            template_key, template = templates[vs_id]
            # keepalived's connect_ip / connect_port, when set, say where to check.
            address, port = check_address or address, check_port or port or vs_ports[vs_id]
            key = (template_key, address, port)
            known = self._targets.get(rs_id)
            if known and known[0] == key:
                cache[rs_id] = known
            else:
                spec = replace(template.spec, host=address, port=port)
                cache[rs_id] = (key, replace(template, rs_id=rs_id, spec=spec))
            targets[rs_id] = cache[rs_id][1]
            health[rs_id] = RealServerHealth(state, since)
        self._targets = cache
        return targets, health


def _template(vs_id: int, check: HealthCheck) -> CheckTarget:
    spec = spec_from_fields(check, host="", port=0, **program_policy())
    return CheckTarget(0, vs_id, spec, float(check.interval or 6), check.rise or 2, check.fall or 3,
                       check.initial_state or "up", check.slow_start or 0)
