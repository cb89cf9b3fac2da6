"""VRRP state of a director, read with the live poll over the pinned SSH connection.

keepalived's notify hook (installed by virtualservers.vrrp_config) logs each transition
on the director; the poll reads the log's tail, whether keepalived runs, the sync daemons
and the kernel's connection count in one round trip (ipvs.scripts.VRRP_STATUS). A line
not seen before becomes a VrrpTransition row and an audit entry; the director's current
state is the latest one (STOPPED when keepalived does not run)."""
from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from lbadmin import audit
from lbadmin.models import Director, VrrpTransition
from virtualservers import ipvs
from virtualservers.formats.vrrp import NotifyLine, VrrpStatus, parse_vrrp_status
from virtualservers.ipvs.scripts import VRRP_STATUS

from . import alerts_events

LOG_LINES = 50
ACTOR = "keepalived"


def poll_vrrp(director: Director, executor: ipvs.Executor) -> dict:
    """The VRRP part of the live snapshot; records transitions it sees for the first time."""
    status = parse_vrrp_status(executor.run_script(
        VRRP_STATUS, [director.keepalived_pidfile, director.state_dir, str(LOG_LINES)]).stdout)
    record_transitions(director, status)
    return {"running": status.keepalived_running, "state": status.state(), "daemons": list(status.daemons),
            "connections": status.connections,
            "last": [[line.at, line.name, line.state] for line in status.transitions[-5:]]}


def state_unknown(director: Director) -> None:
    """The director cannot be read: its VRRP state is unknown from now on, not the last one
    read (a dead MASTER is not MASTER)."""
    if director.vrrp_state:
        now = timezone.now()
        Director.objects.filter(pk=director.pk).update(vrrp_state="", vrrp_state_since=now)
        director.vrrp_state, director.vrrp_state_since = "", now


def _when(line: NotifyLine) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(line.at, tz=datetime.timezone.utc)


def record_transitions(director: Director, status: VrrpStatus) -> list[VrrpTransition]:
    latest = director.vrrp_transitions.values_list("at", flat=True).first()
    new = [line for line in status.transitions if latest is None or _when(line) > latest]
    created = []
    now = timezone.now()
    previous = director.vrrp_state
    for line in new:
        try:
            with transaction.atomic():
                row = VrrpTransition.objects.create(director=director, at=_when(line), seen_at=now, kind=line.kind,
                                                    name=line.name, state=line.state, priority=line.priority)
                audit.record("vrrp", director, actor=ACTOR, object_type="Director",
                             before={"vrrp_state": director.vrrp_state}, after={"vrrp_state": line.state},
                             message=f"{line.kind.lower()} {line.name} became {line.state} "
                                     f"(priority {line.priority}) at {_when(line):%H:%M:%S.%f}"[:-3] + " UTC")
                alerts_events.record(alerts_events.VRRP, director=director.name, old_state=previous,
                                     new_state=line.state, at=_when(line),
                                     reason=f"{line.kind.lower()} {line.name}, priority {line.priority}")
        except IntegrityError:
            continue  # another poll recorded it first
        created.append(row)
        previous = line.state
    # "" when keepalived runs but has reported nothing yet: unknown, never the last state
    # seen before (a rebooted director's old MASTER would be a lie).
    state = status.state()
    since = _when(status.transitions[-1]) if status.transitions and state not in ("STOPPED", "") else now
    if state != director.vrrp_state:
        Director.objects.filter(pk=director.pk).update(vrrp_state=state, vrrp_state_since=since)
        director.vrrp_state, director.vrrp_state_since = state, since
    return created
