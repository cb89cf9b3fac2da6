"""Slow start: a real server that comes back from down gets its weight back gradually.

The health checker writes the facts on the RealServer row (health, health_since,
health_previous); the desired table reads them here. No query per server.
"""
import datetime

from django.utils import timezone

from monitoring.checks import slow_start_weight

from .models import HealthCheck, RealServer


def desired_weight(rs: RealServer, check: HealthCheck, now: datetime.datetime | None = None) -> int:
    """The weight of an up real server: its weight, ramped linearly over the check's
    slow_start seconds after it came back from down. A server seen up for the first time
    (unknown -> up) already carried traffic, so it is not ramped."""
    weight = rs.weight
    if not check.slow_start or rs.health != RealServer.Health.UP or rs.health_since is None:
        return weight
    if rs.health_previous != RealServer.Health.DOWN:
        return weight
    seconds_up = ((now or timezone.now()) - rs.health_since).total_seconds()
    if seconds_up >= check.slow_start:
        return weight
    return slow_start_weight(weight, seconds_up, check.slow_start)


def ramp_step(slow_start: int) -> float:
    """How often to reconcile while a server ramps up: about twenty steps, at most one a second."""
    return max(1.0, slow_start / 20)
