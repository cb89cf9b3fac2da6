"""run_check: one entry point for every check type, which never raises."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .dns_check import check_dns
from .http_check import check_http
from .icmp_check import check_icmp
from .net import CheckInputError
from .program_check import check_program
from .reasons import describe_error, one_line, timed_out
from .spec import CheckResult, CheckSpec, Outcome
from .tcp_check import check_send_expect, check_tcp
from .udp_check import check_udp

log = logging.getLogger(__name__)

# Each check enforces spec.timeout itself (so it can say what it was waiting for); this
# outer bound only catches a check that failed to, so nothing waits on it forever.
SAFETY_MARGIN = 2.0
# Checks whose only wait is one timer-bounded connect need no outer bound, and skipping
# it saves a third of the CPU of the most numerous check.
SELF_BOUNDED = frozenset({"tcp", "none"})


async def _check_none(spec: CheckSpec) -> Outcome:
    return True, "no health check configured"


async def _check_https(spec: CheckSpec) -> Outcome:
    return await check_http(spec, tls=True)


async def _check_plain_http(spec: CheckSpec) -> Outcome:
    return await check_http(spec, tls=False)


CHECKS: dict[str, Callable[[CheckSpec], Awaitable[Outcome]]] = {
    "tcp": check_tcp,
    "send_expect": check_send_expect,
    "udp": check_udp,
    "http": _check_plain_http,
    "https": _check_https,
    "program": check_program,
    "dns": check_dns,
    "icmp": check_icmp,
    "none": _check_none,
}


async def run_check(spec: CheckSpec) -> CheckResult:
    """Run one check and report UP or DOWN with a one-line reason.

    Every failure, including a bad spec or a bug in a check, is a DOWN result; only
    cancellation by the caller propagates (asyncio.CancelledError)."""
    started = time.perf_counter()
    ok, reason = await _outcome(spec)
    latency_ms = (time.perf_counter() - started) * 1000.0
    return CheckResult(ok=ok, latency_ms=round(latency_ms, 3), reason=one_line(reason))


async def _outcome(spec: CheckSpec) -> Outcome:
    check = CHECKS.get(spec.check_type)
    if check is None:
        return False, f"unknown check type {spec.check_type!r}"
    try:
        timeout = float(spec.timeout)
    except (TypeError, ValueError):
        return False, f"bad timeout {spec.timeout!r}"
    if not timeout > 0:
        return False, f"timeout must be above 0 s, not {spec.timeout!r}"
    try:
        if spec.check_type in SELF_BOUNDED:
            return await check(spec)
        async with asyncio.timeout(timeout + SAFETY_MARGIN):
            return await check(spec)
    except TimeoutError:
        return False, timed_out(timeout)
    except CheckInputError as exc:
        return False, str(exc)
    except OSError as exc:
        return False, describe_error(exc)
    except Exception as exc:  # a bug must not stop the checker; it shows as a reason
        log.exception("health check %s crashed", spec.check_type)
        return False, f"check failed: {describe_error(exc)}"
