"""CONTROL/MONITORING's VRRP panel: per redundancy group, who holds the VIPs and each
director's VRRP state, from the snapshots the live poller keeps in Redis (the same reads
as the live table) and the database. Never a director.

A snapshot older than STALE_POLLS poll intervals is shown as its age, not as a state: a
director that stopped answering may have lost the VIPs long ago."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from lbadmin.models import Director, RedundancyGroup, VrrpTransition
from virtualservers.vrrp_config import vips_for

from .live_table import STALE_POLLS, LiveView, poll_interval

MASTER = "MASTER"


@dataclass(frozen=True)
class MemberState:
    name: str
    priority: int
    state: str  # words: a VRRP state, or why there is none
    css: str  # badge class
    current: bool  # a fresh reading with a VRRP part
    keepalived: str
    daemons: str
    connections: str
    last_transition: str


@dataclass(frozen=True)
class GroupState:
    name: str
    vips: str
    holder: str
    alert: bool  # nobody, split brain, or no current reading: shown in red
    members: tuple[MemberState, ...]


def _reading(view: LiveView, stale_after: float) -> tuple[str, str, dict | None]:
    """(state words, badge class, the VRRP part when current)."""
    snapshot = view.snapshot
    if snapshot is None:
        return "no reading yet", "unknown", None
    if view.age > stale_after:
        return f"stale: last read {view.age:.0f} s ago", "error", None
    if not snapshot.get("ok"):
        return f"cannot read the director: {snapshot.get('error', '')}", "error", None
    vrrp = snapshot.get("vrrp")
    if vrrp is None:
        return "VRRP not read yet", "unknown", None
    state = vrrp.get("state") or "UNKNOWN"
    return state, f"vrrp-{state.lower()}", vrrp


def member_state(view: LiveView, last_transition: str, stale_after: float) -> MemberState:
    words, css, vrrp = _reading(view, stale_after)
    director = view.director
    if vrrp is None:
        return MemberState(director.name, director.priority, words, css, False, "-", "-", "-", last_transition)
    return MemberState(director.name, director.priority, words, css, True,
                       "running" if vrrp.get("running") else "not running",
                       ", ".join(vrrp.get("daemons") or []) or "none", str(vrrp.get("connections", 0)),
                       last_transition)


def holder_of(members: tuple[MemberState, ...]) -> tuple[str, bool]:
    """Who holds the group's VIPs, in words, and whether that is an alarm."""
    masters = [m.name for m in members if m.current and m.state == MASTER]
    if len(masters) == 1:
        return masters[0], False
    if len(masters) > 1:
        return f"split brain: {' and '.join(masters)} claim MASTER", True
    if not any(m.current for m in members):
        return "unknown: no current reading of any director", True
    return "nobody", True


def _last_transitions(director_ids: list[int]) -> dict[int, str]:
    latest = VrrpTransition.objects.filter(director=OuterRef("pk")).order_by("-at", "-id")
    rows = Director.objects.filter(pk__in=director_ids).annotate(
        at=Subquery(latest.values("at")[:1]), state=Subquery(latest.values("state")[:1]),
        instance=Subquery(latest.values("name")[:1])).values_list("pk", "at", "state", "instance")
    return {pk: f"{state} at {timezone.localtime(at):%Y-%m-%d %H:%M:%S} ({instance})" if at else "none recorded"
            for pk, at, state, instance in rows}


def group_states(views: list[LiveView]) -> list[GroupState]:
    """One entry per group that has an enabled director among `views` (the live table's)."""
    grouped = [view for view in views if view.director.group_id is not None]
    if not grouped:
        return []
    groups = RedundancyGroup.objects.in_bulk({view.director.group_id for view in grouped})
    last = _last_transitions([view.director.pk for view in grouped])
    stale_after = STALE_POLLS * poll_interval()
    result = []
    for group in sorted(groups.values(), key=lambda g: g.name):
        mine = sorted((v for v in grouped if v.director.group_id == group.pk),
                      key=lambda v: (-v.director.priority, v.director.name))
        members = tuple(member_state(v, last[v.director.pk], stale_after) for v in mine)
        vips = ", ".join(vip.address for vip in vips_for(mine[0].director, group.interface)) or "none"
        holder, alert = holder_of(members)
        result.append(GroupState(group.name, vips, holder, alert, members))
    return result
