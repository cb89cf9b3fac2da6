"""Health of real servers: check results in, honest state out.

A result goes through the real server's rise/fall counter (monitoring.checks.HealthState).
The counters live in Redis, not in the worker's memory, so a worker restart, a second
worker taking over the checker lease, or a "check now" from the web all count on the same
numbers. When the counted state differs from the database's, that is a transition: the
RealServer row is updated, a HealthEvent and an audit entry (actor "health checker", with
the reason) are written in one transaction, and on commit a reconcile is queued for every
director that serves the virtual server, which then removes the server, sets weight 0
(quiesce) or brings in the sorry server (virtualservers.desired).

Also here, for the web: the last result per real server, the checker alarm (no results
for three intervals), "check now" and "try it"; and for virtualservers.desired the slow
start hook `desired_weight`.

Redis keys (one hash each, so 5,000 real servers cost one round trip per batch):
    lbadmin:health:state        rs id -> "state successes failures"
    lbadmin:health:last         rs id -> "time|ok|latency ms|reason" (the latest result)
    lbadmin:health:last-result  time of the latest result of any check (the alarm)
    lbadmin:health:checker      who runs the checker, since when, how many targets
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from lbadmin import audit
from monitoring.checks import CheckResult, CheckSpec, HealthState, run_check, slow_start_weight, spec_from_fields
from virtualservers.models import HealthCheck, RealServer, VirtualServer

from .models import HealthEvent
from .redis_client import get_redis

log = logging.getLogger(__name__)

ACTOR = "health checker"
STATE_KEY = "lbadmin:health:state"
LAST_KEY = "lbadmin:health:last"
LAST_RESULT_KEY = "lbadmin:health:last-result"
CHECKER_KEY = "lbadmin:health:checker"
ALARM_INTERVALS = 3  # no result for this many intervals: the checker is stuck or gone
KNOWN = (RealServer.Health.UP, RealServer.Health.DOWN)


# --- what to check ---------------------------------------------------------------

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


def health_check_of(vs: VirtualServer) -> HealthCheck:
    """The virtual server's check; an unsaved default (TCP connect) when it has none."""
    try:
        return vs.health_check
    except HealthCheck.DoesNotExist:
        return HealthCheck(virtual_server=vs)


def target_for(rs: RealServer, check: HealthCheck | object | None = None) -> CheckTarget:
    """The target for one real server; `check` may be unsaved form data (try it)."""
    check = check or health_check_of(rs.virtual_server)
    host, port = rs.check_target
    spec = spec_from_fields(check, host=host, port=port)
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
    spec = spec_from_fields(check, host="", port=0)
    return CheckTarget(0, vs_id, spec, float(check.interval or 6), check.rise or 2, check.fall or 3,
                       check.initial_state or "up", check.slow_start or 0)


# --- counting results --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AppliedTransition:
    rs_id: int
    old: str
    new: str
    reason: str


def _parse_state(raw: str | None) -> tuple[str, int, int] | None:
    try:
        state, successes, failures = raw.split()  # type: ignore[union-attr]
        return state, int(successes), int(failures)
    except (AttributeError, ValueError):
        return None


def record_results(results: Sequence[tuple[CheckTarget, CheckResult]],
                   known: Mapping[int, RealServerHealth] | None = None,
                   at: float | None = None) -> list[AppliedTransition]:
    """Count a batch of results and apply every transition they cause.

    `known` is the database's health per real server as the caller last read it; a real
    server missing from it is read here. Returns the transitions written."""
    if not results:
        return []
    at = time.time() if at is None else at
    redis = get_redis()
    ids = list(dict.fromkeys(target.rs_id for target, _ in results))
    stored = dict(zip(ids, redis.hmget(STATE_KEY, ids)))
    missing = [rs_id for rs_id in ids if not known or rs_id not in known]
    db_health = dict(known or {})
    if missing:
        for rs_id, state, since in RealServer.objects.filter(pk__in=missing).values_list("pk", "health", "health_since"):
            db_health[rs_id] = RealServerHealth(state, since)

    states: dict[int, HealthState] = {}
    outcomes: dict[int, tuple[CheckTarget, CheckResult, str | None]] = {}
    last: dict[int, str] = {}
    for target, result in results:
        state = states.get(target.rs_id)
        if state is None:
            state = states[target.rs_id] = _state_for(target, stored.get(target.rs_id), db_health.get(target.rs_id))
        flipped = state.record(result.ok, result.reason)
        previous = outcomes.get(target.rs_id)
        reason = flipped.reason if flipped else (previous[2] if previous else None)
        outcomes[target.rs_id] = (target, result, reason)
        last[target.rs_id] = f"{at:.3f}|{int(result.ok)}|{result.latency_ms:.1f}|{result.reason}"

    pipe = redis.pipeline(transaction=False)
    pipe.hset(STATE_KEY, mapping={rs_id: f"{s.state} {s.successes} {s.failures}" for rs_id, s in states.items()})
    pipe.hset(LAST_KEY, mapping=last)
    pipe.set(LAST_RESULT_KEY, f"{at:.3f}")
    pipe.execute()

    applied = []
    for rs_id, (target, result, reason) in outcomes.items():
        current = db_health.get(rs_id)
        new = states[rs_id].state
        if current is None or current.health == new:
            continue
        if current.health not in KNOWN and new == "up" and not result.ok and reason is None:
            continue  # failures counting toward fall: unknown already counts as up
        if reason is None:  # the database never saw this state: a new server, or Redis was reset
            reason = f"initial state {new}: {result.reason}" if current.health not in KNOWN else result.reason
        if apply_transition(rs_id, new, reason, result.latency_ms, at):
            applied.append(AppliedTransition(rs_id, current.health, new, reason))
    return applied


def _state_for(target: CheckTarget, stored: str | None, db: RealServerHealth | None) -> HealthState:
    """Counters from Redis; else the database's state; else the check's initial state."""
    parsed = _parse_state(stored)
    rise, fall = max(target.rise, 1), max(target.fall, 1)
    if parsed and parsed[0] in KNOWN:
        return HealthState(rise, fall, parsed[0], parsed[1], parsed[2])
    if db is not None and db.health in KNOWN:
        return HealthState(rise, fall, db.health)
    return HealthState(rise, fall, target.initial_state if target.initial_state in KNOWN else "up")


def apply_transition(rs_id: int, new: str, reason: str, latency_ms: float | None, at: float | None = None) -> bool:
    """Write one transition; False when the row is gone or already in that state (another
    worker or a "check now" got there first), so a duplicate writes nothing."""
    when = datetime.datetime.fromtimestamp(at or time.time(), tz=datetime.timezone.utc)
    reason = reason[:255]
    with transaction.atomic():
        rs = RealServer.objects.select_for_update().select_related("virtual_server").filter(pk=rs_id).first()
        if rs is None or rs.health == new:
            return False
        old = rs.health
        rs.health, rs.health_since, rs.health_reason, rs.health_latency_ms = new, when, reason, latency_ms
        rs.save(update_fields=["health", "health_since", "health_reason", "health_latency_ms"])
        HealthEvent.objects.create(real_server=rs, at=when, old_state=old, new_state=new, reason=reason,
                                   latency_ms=latency_ms)
        audit.record("health", rs, before={"health": old}, after={"health": new}, actor=ACTOR,
                     object_repr=f"{rs.virtual_server.name}/{rs.name}", message=reason)
        if rs.virtual_server.active:
            directors = list(rs.virtual_server.target_directors().values_list("pk", flat=True))
            transaction.on_commit(lambda: queue_reconciles(directors, "health"))
    log.info("real server %s: %s -> %s (%s)", rs, old, new, reason)
    return True


def queue_reconciles(director_ids: Iterable[int], trigger: str) -> None:
    from virtualservers.reconcile import queue_reconcile  # reconcile imports desired, which imports us

    for director_id in director_ids:
        try:
            queue_reconcile(director_id, trigger)
        except Exception:  # Redis down: the 30 s sweep catches up
            log.exception("could not queue a reconcile of director %s", director_id)


def forget(rs_ids: Iterable[int]) -> None:
    """Drop the counters and last results of real servers that are no longer checked."""
    ids = list(rs_ids)
    if ids:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hdel(STATE_KEY, *ids)
        pipe.hdel(LAST_KEY, *ids)
        pipe.execute()


# --- for pages -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LastResult:
    at: datetime.datetime
    ok: bool
    latency_ms: float
    reason: str

    @property
    def line(self) -> str:
        return f"{'UP' if self.ok else 'DOWN'} {self.latency_ms:.1f} {self.reason}"


def last_results(rs_ids: Sequence[int]) -> dict[int, LastResult]:
    if not rs_ids:
        return {}
    try:
        raw = get_redis().hmget(LAST_KEY, list(rs_ids))
    except Exception:  # the page still renders from the database without Redis
        return {}
    found = {}
    for rs_id, value in zip(rs_ids, raw):
        if value:
            stamp, ok, latency, reason = value.split("|", 3)
            found[rs_id] = LastResult(datetime.datetime.fromtimestamp(float(stamp), tz=datetime.timezone.utc),
                                      ok == "1", float(latency), reason)
    return found


def result_line(result: CheckResult) -> str:
    """The probe command's line: UP <ms> <reason> or DOWN <ms> <reason>."""
    return f"{'UP' if result.ok else 'DOWN'} {result.latency_ms:.1f} {result.reason}"


def run_one(spec: CheckSpec) -> CheckResult:
    return asyncio.run(run_check(spec))


def check_now(rs: RealServer) -> CheckResult:
    """Run the real server's check once, here, and count it like a scheduled result."""
    target = target_for(rs)
    result = run_one(target.spec)
    record_results([(target, result)], {rs.pk: RealServerHealth(rs.health, rs.health_since)})
    return result


def try_check(check: object, rs: RealServer) -> CheckResult:
    """Run a check as configured in `check` (saved or not) against `rs`; counts nothing."""
    return run_one(target_for(rs, check).spec)


@dataclass(frozen=True)
class CheckerAlarm:
    message: str
    age: float | None


def checker_alarm(now: float | None = None) -> CheckerAlarm | None:
    """An alarm when checks are configured but none produced a result for three of the
    shortest check periods (a check's period is its interval, or its timeout when that is
    longer, since a hung target answers only then)."""
    periods = [max(i, t) for i, t in HealthCheck.objects.filter(
        virtual_server__active=True, virtual_server__real_servers__isnull=False).values_list("interval", "timeout")]
    if RealServer.objects.filter(virtual_server__active=True, virtual_server__health_check__isnull=True).exists():
        periods.append(max(HealthCheck._meta.get_field("interval").default, HealthCheck._meta.get_field("timeout").default))
    if not periods:
        return None
    limit = ALARM_INTERVALS * min(periods)
    now = time.time() if now is None else now
    try:
        stamp = get_redis().get(LAST_RESULT_KEY)
    except Exception as exc:
        return CheckerAlarm(f"Cannot read the health checker's results: {exc}", None)
    if stamp is None:
        return CheckerAlarm("The health checker has produced no results: real servers are not being checked.", None)
    age = now - float(stamp)
    if age <= limit:
        return None
    return CheckerAlarm(f"The health checker has produced no results for {age:.0f} s (more than "
                        f"{ALARM_INTERVALS} intervals, {limit:.0f} s): health states are stale.", age)


def checker_status() -> dict[str, str]:
    try:
        return get_redis().hgetall(CHECKER_KEY) or {}
    except Exception:
        return {}


# --- slow start --------------------------------------------------------------------

def desired_weight(rs: RealServer, now: datetime.datetime | None = None) -> int:
    """The weight virtualservers.desired gives an up real server: its weight, ramped
    linearly over the check's slow_start seconds after it came back from down. A server
    seen up for the first time (unknown -> up) already carried traffic, so it is not ramped."""
    weight = rs.weight
    if rs.health != RealServer.Health.UP or rs.health_since is None:
        return weight
    slow_start = health_check_of(rs.virtual_server).slow_start
    if not slow_start:
        return weight
    seconds_up = ((now or timezone.now()) - rs.health_since).total_seconds()
    if seconds_up >= slow_start:
        return weight
    came_from = HealthEvent.objects.filter(real_server=rs).values_list("old_state", flat=True).first()
    if came_from != RealServer.Health.DOWN:
        return weight
    return slow_start_weight(weight, seconds_up, slow_start)


def ramp_step(slow_start: int) -> float:
    """How often to reconcile while a server ramps up: about twenty steps, at most one a second."""
    return max(1.0, slow_start / 20)
