"""A health transition, written once: the RealServer row, its HealthEvent, an audit entry
(actor "health checker", with the reason) and the reconcile requests (the outbox) in one
transaction, with the alert event (monitoring/alerts_events.py); on commit a reconcile is queued for every director that serves the virtual
server, which then removes the server, sets weight 0 (quiesce) or brings in the sorry
server (virtualservers.desired)."""
from __future__ import annotations

import datetime
import logging
import time

from django.db import transaction

from lbadmin import audit
from virtualservers.models import RealServer
from virtualservers.tasks import request_reconciles

from . import alerts_events
from .models import HealthEvent

log = logging.getLogger(__name__)

ACTOR = "health checker"


def write_transition(rs_id: int, new: str, reason: str, latency_ms: float | None, at: float | None = None) -> bool:
    """Write one transition; False when the row is gone or already in that state (another
    worker or a "check now" got there first), so a duplicate writes nothing."""
    when = datetime.datetime.fromtimestamp(at or time.time(), tz=datetime.timezone.utc)
    reason = reason[:255]
    with transaction.atomic():
        rs = RealServer.objects.select_for_update().select_related("virtual_server").filter(pk=rs_id).first()
        if rs is None or rs.health == new:
            return False
        old = rs.health
        rs.health_previous = old
        rs.health, rs.health_since, rs.health_reason, rs.health_latency_ms = new, when, reason, latency_ms
        rs.save(update_fields=["health", "health_previous", "health_since", "health_reason", "health_latency_ms"])
        HealthEvent.objects.create(real_server=rs, at=when, old_state=old, new_state=new, reason=reason,
                                   latency_ms=latency_ms)
        audit.record("health", rs, before={"health": old}, after={"health": new}, actor=ACTOR,
                     object_repr=f"{rs.virtual_server.name}/{rs.name}", message=reason)
        alerts_events.record(alerts_events.HEALTH, virtual_server=rs.virtual_server, real_server=rs.name,
                             old_state=old, new_state=new, reason=reason, at=when)
        if rs.virtual_server.active:
            request_reconciles(rs.virtual_server.target_directors().values_list("pk", flat=True), "health",
                               touched=[rs.virtual_server_id])
    log.info("real server %s: %s -> %s (%s)", rs, old, new, reason)
    return True
