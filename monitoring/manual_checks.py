"""Checks run on request, outside the checker's rhythm: "check now" (counted like a
scheduled result) and "try it" (counts nothing), and the one-line result they show.

Program checks run only in the worker, never in the web process: the view queues them
(monitoring.tasks.queue_manual_check), the worker stores the line under a random token
in Redis (CELERY_RESULT_BACKEND is None), and the page polls for it. Other types stay in
the web process: a TCP, HTTP or DNS probe from there runs no code of anyone's choosing,
and "try it" keeps answering at once, also while the worker is down.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time

from lbadmin.redis_client import get_redis
from monitoring.checks import CheckResult, CheckSpec, build_argv, reasons, run_check
from monitoring.checks.spec import POLICY_FIELDS
from virtualservers.models import RealServer

from .check_targets import RealServerHealth, program_policy, target_for
from .health_counter import record_results

MANUAL_KEY = "lbadmin:manual-check:{}"
# How long the worker has to pick a queued check up and answer, beyond the check's own
# timeout; after that the page says so, and the task expires unrun.
QUEUE_GRACE = 15.0
RESULT_TTL = 300
TRY, CHECK_NOW = "try check", "check now"


def result_line(result: CheckResult) -> str:
    """The probe command's line: UP <ms> <reason> or DOWN <ms> <reason>."""
    return reasons.result_line(result.ok, result.latency_ms, result.reason)


def run_one(spec: CheckSpec) -> CheckResult:
    return asyncio.run(run_check(spec))


def runs_in_worker(spec: CheckSpec) -> bool:
    return spec.check_type == "program"


def described(spec: CheckSpec) -> str:
    """What the audit log says was run: a program's exact argv, as a JSON list."""
    if spec.check_type != "program":
        return f"{spec.check_type} check of {spec.host}:{spec.port}"
    try:
        return "argv " + json.dumps(build_argv(spec.send_program, spec.host, spec.port))
    except ValueError as exc:
        return f"program {spec.send_program!r} (cannot split: {exc})"


def check_now(rs: RealServer) -> CheckResult:
    """Run the real server's check once, here, and count it like a scheduled result."""
    target = target_for(rs)
    result = run_one(target.spec)
    record_results([(target, result)], {rs.pk: RealServerHealth(rs.health, rs.health_since)})
    return result


def try_check(check: object, rs: RealServer) -> CheckResult:
    """Run a check as configured in `check` (saved or not) against `rs`; counts nothing."""
    return run_one(target_for(rs, check).spec)


# --- through the worker --------------------------------------------------------------------

def spec_payload(spec: CheckSpec) -> dict:
    """A spec as the task's JSON, without the program policy: the worker applies its own."""
    return {name: value for name, value in dataclasses.asdict(spec).items() if name not in POLICY_FIELDS}


def open_request(kind: str, rs: RealServer, username: str, timeout: float) -> tuple[str, float]:
    """A token for one queued check, its deadline, and the Redis hash that will hold the line."""
    token = secrets.token_urlsafe(16)
    wait = float(timeout) + QUEUE_GRACE
    get_redis().hset(MANUAL_KEY.format(token), mapping={
        "user": username, "kind": kind, "rs": rs.pk, "vs": rs.virtual_server_id,
        "deadline": f"{time.time() + wait:.3f}"})
    get_redis().expire(MANUAL_KEY.format(token), RESULT_TTL)
    return token, wait


def run_queued(token: str, kind: str, rs_pk: int, payload: dict | None) -> None:
    """The worker's side: run the check (counted for check now) and store its line."""
    if kind == CHECK_NOW:
        rs = RealServer.objects.select_related("virtual_server").filter(pk=rs_pk).first()
        result = check_now(rs) if rs is not None else CheckResult(False, 0.0, "real server deleted")
    else:
        spec = CheckSpec(**{**(payload or {}), **program_policy()})
        result = run_one(spec)
    key = MANUAL_KEY.format(token)
    get_redis().hset(key, mapping={"line": result_line(result), "ok": int(result.ok)})
    get_redis().expire(key, RESULT_TTL)


def queued_result(token: str, username: str) -> dict | None:
    """The stored request for its own user ({"line", "ok"} once answered), else None."""
    found = get_redis().hgetall(MANUAL_KEY.format(token))
    if not found or found.get("user") != username:
        return None
    return found
