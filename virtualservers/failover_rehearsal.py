"""A failover on purpose: stop keepalived gracefully on a group's MASTER, measure the
takeover, start keepalived again, and keep the figures (lbadmin.models.FailoverRehearsal).

Why here and not in monitoring: the REDUNDANCY page (this app) queues it, and it needs
only this app's executors, the pure VRRP parsing and the core models; monitoring may
import this module, never the reverse.

What is measured, and how it is known:
- takeover_seconds: the old MASTER's last notify line after SIGTERM (keepalived logs STOP
  once it has sent its priority-0 advert) to the new MASTER's MASTER line, both stamped by
  the notify hook with the directors' own clocks (which must agree: NTP). keepalived sends
  its first gratuitous ARP burst on becoming MASTER, so the MASTER stamp is the first
  GARP's time to within the notify latency.
- connections before and after: the new MASTER's kernel connection count while it was
  BACKUP (what the sync daemon had brought) and once it was MASTER.
- probe: a TCP connect from this host through the group's first VIP:port every 50 ms
  (200 ms timeout) in a thread; the longest run of failures is the outage as a client saw
  it. Skipped, with the reason, when the VIP does not answer from here before the failover.

keepalived is started again on the old MASTER in a `finally`, whatever happened.
"""
from __future__ import annotations

import datetime
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from lbadmin import audit
from lbadmin.models import Director, FailoverRehearsal, RedundancyGroup

from . import ipvs
from .formats.vrrp import NotifyLine, VrrpStatus, parse_vrrp_status
from .ipvs.scripts import START_KEEPALIVED, STOP_KEEPALIVED, VRRP_STATUS
from .models import VirtualServer
from .reconcile import executor_for
from .vrrp_config import KEEPALIVED, served_by_group

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 5  # keepalived exits within about a second after SIGTERM (lab: 1.1 s under TCG)
TAKEOVER_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
STATUS_LINES = 20
PROBE_INTERVAL = 0.05
PROBE_TIMEOUT = 0.2
PROBE_TAIL = 1.0  # the probe runs on this long after keepalived is back on the old MASTER
RETURN_GRACE = 5.0  # beyond preempt_delay, to see whether the old MASTER takes the VIPs back
STALE_AFTER = datetime.timedelta(minutes=15)  # longer than the task's time limit


class RehearsalRefused(Exception):
    """A rehearsal that must not start; the message is for the operator."""


class RehearsalFailed(Exception):
    """A step that went wrong; the message ends up on the rehearsal row."""


# --- arithmetic (no I/O) -------------------------------------------------------------------

def stamp(output: str, word: str) -> float | None:
    """The director-clock time of the script line `WORD TIME` ("sigterm 1796159657.35")."""
    for line in output.splitlines():
        head, _, value = line.strip().rpartition(" ")
        if head == word:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def released_at(old_lines: Sequence[NotifyLine], sigterm: float, stopped: float | None) -> float:
    """When the old MASTER let go: its last notify line logged while it stopped (STOP,
    after the priority-0 advert), or the SIGTERM itself when it logged none."""
    end = stopped if stopped is not None else float("inf")
    during = [line.at for line in old_lines if sigterm <= line.at <= end]
    return max(during) if during else sigterm


def master_at(lines: Sequence[NotifyLine], since: float) -> float | None:
    """The first MASTER line at or after `since` (an older one is a previous takeover)."""
    return next((line.at for line in lines if line.state == "MASTER" and line.at >= since), None)


def takeover_seconds(released: float, master: float) -> float:
    """From let go to taken over. A MASTER stamped before the old MASTER's STOP means the
    new one was elected on the priority-0 advert before the old hook ran: no gap at all."""
    return round(max(master - released, 0.0), 6)


@dataclass(frozen=True)
class Attempt:
    at: float  # time.time() when the connect started
    ok: bool


@dataclass(frozen=True)
class ProbeFigures:
    outage_seconds: float | None
    summary: str


def probe_figures(attempts: Sequence[Attempt], interval: float = PROBE_INTERVAL) -> ProbeFigures:
    """The longest outage: from the last good connect before failures to the first good one
    after them (to within one interval); failures that never ended count up to the last try."""
    if not attempts:
        return ProbeFigures(None, "no probe: no connect was attempted")
    failed = sum(1 for a in attempts if not a.ok)
    longest, last_ok, open_failures, unended = 0.0, None, 0, False
    for attempt in attempts:
        if attempt.ok:
            if last_ok is not None and open_failures:
                longest = max(longest, attempt.at - last_ok)
            last_ok, open_failures = attempt.at, 0
        else:
            open_failures += 1
    if open_failures and last_ok is not None:
        longest, unended = max(longest, attempts[-1].at - last_ok), True
    summary = f"{len(attempts)} connects every {int(interval * 1000)} ms, {failed} failed"
    if failed:
        summary += f"; longest outage {longest:.3f} s" + (" (not over when the probe stopped)" if unended else "")
    return ProbeFigures(round(longest, 6), summary)


def next_due(group: RedundancyGroup, last_requested: datetime.datetime | None) -> datetime.datetime | None:
    """When the schedule starts the next rehearsal; None when it never does. A manual
    rehearsal counts: the schedule only wants one at least every N days."""
    if not group.rehearse_every_days:
        return None
    if last_requested is None:
        return timezone.now()
    return last_requested + datetime.timedelta(days=group.rehearse_every_days)


# --- asking for one -----------------------------------------------------------------------

def enabled_members(group: RedundancyGroup) -> list[Director]:
    return list(group.members.filter(enabled=True).order_by("-priority", "name"))


def expire_stale(group: RedundancyGroup) -> None:
    """A rehearsal in flight for longer than any task may run lost its worker: end it as
    failed so the group can be rehearsed again, and say what may be left behind."""
    cutoff = timezone.now() - STALE_AFTER
    for r in group.rehearsals.filter(result__in=FailoverRehearsal.IN_FLIGHT, requested_at__lt=cutoff):
        left = (f"; keepalived may still be stopped on {r.from_director}: check it" if r.result == "running"
                and r.from_director else "")
        FailoverRehearsal.objects.filter(pk=r.pk, result=r.result).update(
            result=FailoverRehearsal.Result.FAILED, finished_at=timezone.now(), stage="",
            error=f"no worker finished it within {int(STALE_AFTER.total_seconds() // 60)} minutes{left}")


def request_rehearsal(group: RedundancyGroup, *, user=None, trigger: str = FailoverRehearsal.Trigger.MANUAL,
                      request_id: str = "") -> FailoverRehearsal:
    """A pending rehearsal, or RehearsalRefused with the reason. The database allows one
    in flight per group (a partial unique constraint), so two requests at once give one."""
    members = enabled_members(group)
    if len(members) < 2:
        raise RehearsalRefused(f"Group {group} has {len(members)} enabled director(s): a failover needs two or more.")
    expire_stale(group)
    try:
        with transaction.atomic():
            return FailoverRehearsal.objects.create(
                group=group, requested_by=user if user is not None and user.is_authenticated else None,
                requested_by_name=user.get_username() if user is not None else "schedule",
                trigger=trigger, request_id=request_id)
    except IntegrityError:
        raise RehearsalRefused(f"A rehearsal of group {group} is already under way: wait for its result.") from None


def due_groups(now: datetime.datetime | None = None) -> list[RedundancyGroup]:
    now = now or timezone.now()
    found = []
    for group in RedundancyGroup.objects.filter(rehearse_every_days__gt=0):
        last = group.rehearsals.values_list("requested_at", flat=True).first()
        due = next_due(group, last)
        if due is not None and due <= now:
            found.append(group)
    return found


# --- the rehearsal -------------------------------------------------------------------------

def read_status(director: Director) -> VrrpStatus:
    output = executor_for(director).run_script(
        VRRP_STATUS, [director.keepalived_pidfile, director.state_dir, str(STATUS_LINES)]).stdout
    return parse_vrrp_status(output)


def probe_target(group: RedundancyGroup, member: Director) -> tuple[str, int] | None:
    """The group's first TCP VIP:port (by name), as a client would reach it."""
    for vs in VirtualServer.objects.filter(active=True, fwmark__isnull=True, protocol="tcp") \
            .prefetch_related("directors").order_by("name"):
        if served_by_group(vs, member):
            return vs.address, vs.port
    return None


def connects(address: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class VipProbe:
    """TCP connects through the VIP every PROBE_INTERVAL, in a thread, until stopped."""

    def __init__(self, address: str, port: int, connect: Callable[[str, int], bool] = connects):
        self.address, self.port, self.connect = address, port, connect
        self.attempts: list[Attempt] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rehearsal-probe {address}:{port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            self.attempts.append(Attempt(began, self.connect(self.address, self.port)))
            self._stop.wait(max(0.0, PROBE_INTERVAL - (time.time() - began)))

    def stop(self) -> list[Attempt]:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT + 1)
        return list(self.attempts)


def start_probe(group: RedundancyGroup, member: Director,
                connect: Callable[[str, int], bool] = connects) -> tuple[VipProbe | None, str]:
    """A running probe, or None and why no probe runs."""
    target = probe_target(group, member)
    if target is None:
        return None, "no probe: the group serves no active TCP virtual server"
    address, port = target
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    if not any(connect(address, port) for _ in range(3)):
        return None, f"no probe: {where} does not answer from the lbadmin host"
    probe = VipProbe(address, port, connect)
    probe.start()
    return probe, ""


def _when(director_clock: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(director_clock, tz=datetime.timezone.utc)


def _stage(rehearsal: FailoverRehearsal, stage: str) -> None:
    rehearsal.stage = stage
    FailoverRehearsal.objects.filter(pk=rehearsal.pk).update(stage=stage)


def find_master(members: Sequence[Director]) -> tuple[Director, dict[int, VrrpStatus]]:
    statuses = {d.pk: read_status(d) for d in members}
    masters = [d for d in members if statuses[d.pk].state() == "MASTER"]
    if len(masters) != 1:
        seen = ", ".join(f"{d.name} {statuses[d.pk].state() or 'unknown'}" for d in members)
        raise RehearsalFailed(("no member reports MASTER" if not masters else "more than one member reports MASTER")
                              + f" ({seen}): nothing was stopped")
    return masters[0], statuses


def wait_for_new_master(others: Sequence[Director], since: float) -> tuple[Director, VrrpStatus, float]:
    """Poll the other members until one logged MASTER at or after `since`."""
    timeout = TAKEOVER_TIMEOUT
    deadline = time.monotonic() + timeout
    while True:
        for director in others:
            status = read_status(director)
            became = master_at(status.transitions, since)
            if became is not None and status.state() == "MASTER":
                return director, status, became
        if time.monotonic() > deadline:
            raise RehearsalFailed(f"no other member became MASTER within {timeout:g} s "
                                  f"({', '.join(d.name for d in others)} polled every {POLL_INTERVAL:g} s)")
        time.sleep(POLL_INTERVAL)


def watch_return(group: RedundancyGroup, old: Director, since: float) -> str:
    """How the old MASTER came back: as BACKUP (nopreempt, or preempt not yet due), or by
    taking the VIPs back after the preempt delay."""
    wait = group.preempt_delay + RETURN_GRACE if group.preempt else RETURN_GRACE
    deadline = time.monotonic() + wait
    state = ""
    while time.monotonic() < deadline:
        status = read_status(old)
        back = master_at(status.transitions, since)
        if back is not None and status.state() == "MASTER":
            return (f"{old.name} took the VIPs back {back - since:.2f} s after keepalived started "
                    f"(preempt, delay {group.preempt_delay} s)")
        state = status.state()
        if state == "BACKUP" and not group.preempt:
            return f"{old.name} returned as BACKUP (nopreempt): the VIPs stay where they are"
        time.sleep(POLL_INTERVAL * 3)
    if state == "BACKUP":
        return f"{old.name} returned as BACKUP and had not taken the VIPs back {wait:g} s later"
    return f"{old.name} runs keepalived again but reported {state or 'no state'} within {wait:g} s"


def run_rehearsal(rehearsal_id: int, connect: Callable[[str, int], bool] = connects) -> FailoverRehearsal | None:
    """Run one pending rehearsal; None when it was not pending (a duplicate delivery)."""
    claimed = FailoverRehearsal.objects.filter(pk=rehearsal_id, result=FailoverRehearsal.Result.PENDING).update(
        result=FailoverRehearsal.Result.RUNNING, started_at=timezone.now(), stage="finding the MASTER")
    if claimed != 1:
        return None
    rehearsal = FailoverRehearsal.objects.select_related("group", "requested_by").get(pk=rehearsal_id)
    group = rehearsal.group
    errors: list[str] = []
    old: Director | None = None
    stop_tried = False
    probe: VipProbe | None = None
    started_again: float | None = None
    try:
        members = enabled_members(group)
        if len(members) < 2:
            raise RehearsalFailed(f"{len(members)} enabled director(s) left in the group: nothing was stopped")
        old, before = find_master(members)
        others = [d for d in members if d.pk != old.pk]
        rehearsal.from_director = old.name
        _stage(rehearsal, f"stopping keepalived on {old.name}")
        probe, rehearsal.probe_summary = start_probe(group, old, connect)
        stop_tried = True
        stopped_output = executor_for(old).run_script(
            STOP_KEEPALIVED, [old.keepalived_pidfile, str(STOP_WAIT_SECONDS)]).stdout
        sigterm = stamp(stopped_output, "sigterm")
        if sigterm is None:
            raise RehearsalFailed(f"keepalived was not running on {old.name} any more: {stopped_output.strip()}")
        _stage(rehearsal, "waiting for a new MASTER")
        new, after, became = wait_for_new_master(others, sigterm)
        released = released_at(read_status(old).transitions, sigterm, stamp(stopped_output, "stopped"))
        rehearsal.to_director = new.name
        rehearsal.released_at, rehearsal.master_at = _when(released), _when(became)
        rehearsal.takeover_seconds = takeover_seconds(released, became)
        rehearsal.connections_before, rehearsal.connections_after = before[new.pk].connections, after.connections
    except Exception as exc:  # every failure ends as a visible failed rehearsal
        log.exception("failover rehearsal %s of %s", rehearsal_id, group)
        errors.append(_describe(exc))
    finally:
        if old is not None and stop_tried:
            try:
                out = executor_for(old).run_script(
                    START_KEEPALIVED, [old.keepalived_conf, old.keepalived_pidfile, KEEPALIVED]).stdout
                started_again = stamp(out, "started") or stamp(out, "already running")
            except Exception as exc:
                errors.append(f"keepalived could not be started again on {old.name}: {_describe(exc)}")
    try:
        if old is not None and started_again is not None:
            _stage(rehearsal, f"watching {old.name} come back")
            rehearsal.old_master_return = watch_return(group, old, started_again)[:255]
    except Exception as exc:
        errors.append(f"could not read how {old.name} came back: {_describe(exc)}")
    if probe is not None:
        time.sleep(PROBE_TAIL)
        figures = probe_figures(probe.stop())
        rehearsal.probe_outage_seconds, rehearsal.probe_summary = figures.outage_seconds, figures.summary
    return _finish(rehearsal, errors)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (RehearsalFailed, ipvs.IpvsError)):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


def summary(r: FailoverRehearsal) -> str:
    if r.result == FailoverRehearsal.Result.FAILED:
        return f"failed: {r.error}"
    parts = [f"{r.from_director} -> {r.to_director}", f"takeover {r.takeover_seconds:.3f} s (director notify stamps)",
             f"connections on {r.to_director} {r.connections_before} before, {r.connections_after} after"]
    parts.append(f"probe outage {r.probe_outage_seconds:.3f} s" if r.probe_outage_seconds is not None
                 else r.probe_summary or "no probe")
    if r.old_master_return:
        parts.append(r.old_master_return)
    return "; ".join(parts)


def _finish(rehearsal: FailoverRehearsal, errors: list[str]) -> FailoverRehearsal:
    rehearsal.result = FailoverRehearsal.Result.FAILED if errors else FailoverRehearsal.Result.OK
    rehearsal.error = "; ".join(errors)
    rehearsal.stage = ""
    rehearsal.finished_at = timezone.now()
    with transaction.atomic():
        rehearsal.save()
        audit.record("rehearsal", rehearsal.group, object_type="RedundancyGroup", user=rehearsal.requested_by,
                     actor=rehearsal.requested_by_name or "schedule",
                     after={"result": rehearsal.result, "from": rehearsal.from_director, "to": rehearsal.to_director,
                            "takeover_seconds": rehearsal.takeover_seconds,
                            "connections_before": rehearsal.connections_before,
                            "connections_after": rehearsal.connections_after,
                            "probe_outage_seconds": rehearsal.probe_outage_seconds},
                     message=f"failover rehearsal ({rehearsal.trigger}): {summary(rehearsal)}")
    return rehearsal
