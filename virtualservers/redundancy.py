"""What the REDUNDANCY page shows: each redundancy group with its directors, their VRRP
state as last recorded, and the keepalived.conf reconcile would install on each, as a diff
against the one lbadmin last installed. From the database only: a page never reaches a
director."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from lbadmin.models import Director, FailoverRehearsal, RedundancyGroup, VrrpTransition

from .failover_rehearsal import next_due
from .vrrp_config import desired_keepalived, diff_lines

REHEARSALS_SHOWN = 10

# Shown on the page beside the settings they explain.
DEFAULTS = (
    ("Gratuitous ARP: a burst of 5, a second burst after 5 s, a refresh every 60 s",
     "A takeover is announced by gratuitous ARP; a switch or router that misses it keeps sending to the old "
     "director's MAC. keepalived users report hour-long outages from such stale ARP caches. The refresh, while "
     "MASTER, makes every neighbour relearn the MAC within a minute whatever it missed."),
    ("Preempt off (nopreempt)",
     "A director that comes back does not take the VIPs back from the one that holds them: every move cuts the "
     "connections the sync daemon has not copied yet, so one failover should not become two."),
    ("When preempt is on: a preempt delay longer than the sync daemon needs",
     "The returning director starts as BACKUP and its sync daemon receives the connection table from the MASTER "
     "only as connections change. Take the VIPs back too early and the connections it has not learnt yet are "
     "reset; allow it at least 30 to 60 s."),
    ("Connection sync daemon on",
     "Established connections survive a failover: keepalived starts ipvsadm's master daemon on the MASTER and the "
     "backup daemon on the others."),
)
PREEMPT_DELAY_ADVISED = 30


@dataclass(frozen=True)
class MemberRow:
    director: Director
    state: str
    since: object  # datetime or None
    last_transition: str
    note: str  # what the preview means, in words
    diff: tuple[str, ...]


@dataclass(frozen=True)
class Rehearsals:
    """A group's rehearsal history as the page shows it (newest first), and whether one is
    in flight (the panel polls only then)."""
    group: RedundancyGroup
    rows: tuple[FailoverRehearsal, ...]
    in_flight: bool
    schedule: str  # "every 7 days; next due ...", or "not scheduled"


@dataclass(frozen=True)
class GroupRow:
    group: RedundancyGroup
    members: tuple[MemberRow, ...]
    warnings: tuple[str, ...]
    rehearsals: Rehearsals


def group_warnings(group: RedundancyGroup) -> tuple[str, ...]:
    found = []
    if group.preempt and group.sync_daemon and group.preempt_delay < PREEMPT_DELAY_ADVISED:
        found.append(f"Preempt is on with a delay of {group.preempt_delay} s: a returning director would take the "
                     f"VIPs back before its sync daemon learnt the connections (allow {PREEMPT_DELAY_ADVISED} s or "
                     "more).")
    if group.garp_master_refresh == 0:
        found.append("Gratuitous ARP refresh is off: a switch that missed a takeover may keep the old MAC for as "
                     "long as its ARP cache lasts.")
    return tuple(found)


def _last_transitions():
    latest = VrrpTransition.objects.filter(director=OuterRef("pk")).order_by("-at", "-id")
    return Director.objects.annotate(last_at=Subquery(latest.values("at")[:1]),
                                     last_state=Subquery(latest.values("state")[:1]),
                                     last_name=Subquery(latest.values("name")[:1])).select_related("group")


def member_row(director: Director) -> MemberRow:
    last = (f"{director.last_name} became {director.last_state} at {director.last_at:%Y-%m-%d %H:%M:%S}"
            if director.last_at else "none recorded")
    if not director.enabled:
        note, diff = "Disabled: reconcile leaves this director alone.", ()
    else:
        wanted = desired_keepalived(director) or ""
        if wanted == director.vrrp_applied:
            note, diff = "Installed: the file on the director is the one reconcile wants.", ()
        else:
            note = ("Never installed by lbadmin: the whole file is new." if not director.vrrp_applied else
                    "Differs from the file lbadmin installed last: the next reconcile installs it.")
            diff = tuple(diff_lines(director.vrrp_applied, wanted, director))
    return MemberRow(director, _state_words(director), director.vrrp_state_since, last, note, diff)


def _state_words(director: Director) -> str:
    if director.vrrp_state:
        return director.vrrp_state
    if director.status == Director.Status.UNREACHABLE:
        return "unknown: the director cannot be reached"
    return "unknown" if director.vrrp_state_since else "not read yet"


def _schedule(group: RedundancyGroup, rows: list[FailoverRehearsal]) -> str:
    due = next_due(group, rows[0].requested_at if rows else None)
    if due is None:
        return "Not scheduled (rehearse failover every 0 days)."
    return f"Every {group.rehearse_every_days} day(s); next due {due:%Y-%m-%d %H:%M} UTC (the hourly schedule starts it)."


def rehearsals_of(groups: list[RedundancyGroup]) -> dict[int, Rehearsals]:
    """The newest rehearsals of each group, in one query whatever the number of groups."""
    by_group: dict[int, list[FailoverRehearsal]] = {g.pk: [] for g in groups}
    for r in FailoverRehearsal.objects.filter(group__in=groups).order_by("-requested_at", "-id"):
        if len(by_group[r.group_id]) < REHEARSALS_SHOWN:
            by_group[r.group_id].append(r)
    return {g.pk: Rehearsals(g, tuple(by_group[g.pk]), any(r.in_flight for r in by_group[g.pk]),
                             _schedule(g, by_group[g.pk])) for g in groups}


def group_rows() -> list[GroupRow]:
    """Each group with its members, highest priority first, and its rehearsals."""
    by_group: dict[int, list[Director]] = {}
    for director in _last_transitions().filter(group__isnull=False).order_by("-priority", "name"):
        by_group.setdefault(director.group_id, []).append(director)
    groups = list(RedundancyGroup.objects.all())
    rehearsals = rehearsals_of(groups)
    return [GroupRow(group, tuple(member_row(d) for d in by_group.get(group.pk, [])), group_warnings(group),
                     rehearsals[group.pk]) for group in groups]
