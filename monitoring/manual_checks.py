"""Checks run on request, outside the checker's rhythm: "check now" (counted like a
scheduled result) and "try it" (counts nothing), and the one-line result they show."""
from __future__ import annotations

import asyncio

from monitoring.checks import CheckResult, CheckSpec, reasons, run_check
from virtualservers.models import RealServer

from .check_targets import RealServerHealth, target_for
from .health_counter import record_results


def result_line(result: CheckResult) -> str:
    """The probe command's line: UP <ms> <reason> or DOWN <ms> <reason>."""
    return reasons.result_line(result.ok, result.latency_ms, result.reason)


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
