"""How a cause records an event an alert reports: a row in the cause's own transaction
(the outbox), routed to the destinations after it commits."""
from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from lbadmin.celery import app
from lbadmin.redis_client import get_redis, redis_outage

from .alerts_kinds import APPLY_FAILED, CHECKER, DRIFT, HEALTH, VRRP  # noqa: F401  (the kinds, for callers)
from .alerts_models import AlertEvent

ROUTE_TASK = "monitoring.tasks.alerts_tick"
NUDGED_KEY = "lbadmin:alerts:nudged"  # one nudge a second is enough, whatever a flap writes


def record(kind: str, *, director: str = "", virtual_server=None, real_server: str = "", old_state: str = "",
           new_state: str = "", reason: str = "", at: datetime.datetime | None = None):
    """Write the event in the caller's transaction; once it commits, the router is asked
    to run now (beat runs it every few seconds anyway, so a lost nudge only delays)."""
    event = AlertEvent.objects.create(
        kind=kind, at=at or timezone.now(), director=director[:64], virtual_server=virtual_server,
        virtual_server_name=virtual_server.name[:64] if virtual_server is not None else "",
        real_server=real_server[:64], old_state=old_state[:32], new_state=new_state[:32], reason=reason[:500])
    transaction.on_commit(_nudge)
    return event


def _nudge() -> None:
    if redis_outage() is not None:
        return  # known down: beat's first tick after it is back routes the event
    try:
        if get_redis().set(NUDGED_KEY, "1", nx=True, ex=1):
            app.send_task(ROUTE_TASK)
    except Exception:
        pass  # Redis is down: beat's next tick routes it
