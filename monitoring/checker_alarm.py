"""Is the health checker working? An alarm for CONTROL/MONITORING when checks are
configured and no result arrived for three intervals, and the checker's published status."""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from lbadmin.redis_client import get_redis, redis_outage
from virtualservers.models import HealthCheck, RealServer, VirtualServer

from .health_counter import LAST_RESULT_KEY

CHECKER_KEY = "lbadmin:health:checker"
ALARM_INTERVALS = 3  # no result for this many intervals: the checker is stuck or gone


@dataclass(frozen=True)
class CheckerAlarm:
    message: str
    age: float | None


def checker_alarm(now: float | None = None) -> CheckerAlarm | None:
    """An alarm when checks are configured but none produced a result for three of the
    shortest check periods (a check's period is its interval, or its timeout when that is
    longer, since a hung target answers only then)."""
    # Per virtual server, whether it has real servers (not a join row per real server:
    # 8,000 at 1,000 x 8), and each (interval, timeout) once.
    has_real_servers = Exists(RealServer.objects.filter(virtual_server=OuterRef("virtual_server")))
    periods = [max(i, t) for i, t in HealthCheck.objects.filter(has_real_servers, virtual_server__active=True)
               .values_list("interval", "timeout").order_by().distinct()]
    unchecked = VirtualServer.objects.filter(Exists(RealServer.objects.filter(virtual_server=OuterRef("pk"))),
                                             active=True, health_check__isnull=True)
    if unchecked.exists():
        periods.append(max(HealthCheck._meta.get_field("interval").default, HealthCheck._meta.get_field("timeout").default))
    if not periods:
        return None
    limit = ALARM_INTERVALS * min(periods)
    now = time.time() if now is None else now
    outage = redis_outage()  # known down: say so now, not after a 2-s socket timeout
    if outage is not None:
        return CheckerAlarm(f"Cannot read the health checker's results: {outage.words} ({outage.reason})", None)
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
