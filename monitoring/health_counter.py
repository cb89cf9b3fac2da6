"""Counting check results: rise and fall per real server, kept in Redis.

A result goes through the real server's rise/fall counter (monitoring.checks.HealthState).
The counters live in Redis, not in the worker's memory, so a worker restart, a second
worker taking over the checker lease, or a "check now" from the web all count on the same
numbers. When the counted state differs from the database's, that is a transition, written
by monitoring.transitions.

Redis keys (one hash each, so 5,000 real servers cost one round trip per batch):
    lbadmin:health:state        rs id -> "state successes failures"
    lbadmin:health:last         rs id -> the latest result (virtualservers.health_facts)
    lbadmin:health:last-result  time of the latest result of any check (the alarm)
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lbadmin.redis_client import get_redis
from monitoring.checks import CheckResult, HealthState
from virtualservers.health_facts import LAST_KEY, encode_last_result
from virtualservers.models import RealServer

from .check_targets import CheckTarget, RealServerHealth
from .transitions import write_transition

STATE_KEY = "lbadmin:health:state"
LAST_RESULT_KEY = "lbadmin:health:last-result"
KNOWN = (RealServer.Health.UP, RealServer.Health.DOWN)


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
        last[target.rs_id] = encode_last_result(at, result.ok, result.latency_ms, result.reason)

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
        if write_transition(rs_id, new, reason, result.latency_ms, at):
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


def forget(rs_ids: Iterable[int]) -> None:
    """Drop the counters and last results of real servers that are no longer checked."""
    ids = list(rs_ids)
    if ids:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hdel(STATE_KEY, *ids)
        pipe.hdel(LAST_KEY, *ids)
        pipe.execute()
