"""The latest check result of each real server, for the pages.

A real server's health state is on its row (written by monitoring.transitions only when
it changes); its latest result changes with every check, so it lives in Redis, written
by the checker (monitoring.health_counter) and read here in one round trip per page.

    lbadmin:health:last   rs id -> "time|ok|latency ms|reason"
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from lbadmin.redis_client import get_redis
from monitoring.checks.reasons import result_line

LAST_KEY = "lbadmin:health:last"


def encode_last_result(at: float, ok: bool, latency_ms: float, reason: str) -> str:
    return f"{at:.3f}|{int(ok)}|{latency_ms:.1f}|{reason}"


@dataclass(frozen=True, slots=True)
class LastResult:
    at: datetime.datetime
    ok: bool
    latency_ms: float
    reason: str

    @property
    def line(self) -> str:
        return result_line(self.ok, self.latency_ms, self.reason)


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
