"""Reconcile (preview and apply) and the live routing table."""
from __future__ import annotations

import logging
from typing import Any, Optional

from django.db import transaction
from ninja import Router, Status, Schema

from lbadmin import audit
from lbadmin.models import Director
from lbadmin.roles import OPERATOR, VIEWER, check_role
from monitoring.live_table import director_views, enabled_directors
from virtualservers.reconcile import reconcile_director
from virtualservers.tasks import request_reconciles

from .formdata import ApiError
from .schemas import READ, responses

router = Router(tags=["reconcile and live table"])
log = logging.getLogger(__name__)


class PlannedDirector(Schema):
    director: str
    commands: list[str]
    error: str = ""


class ApplyQueued(Schema):
    directors: list[str]
    detail: str


def _directors(name: str | None):
    directors = Director.objects.filter(enabled=True).order_by("name")
    if name:
        directors = directors.filter(name=name)
        if not directors:
            raise ApiError(404, {"detail": f"No enabled director named {name!r}."})
    return list(directors)


@router.get("/reconcile/preview", response=responses(list[PlannedDirector]),
            summary="What an apply would run on each enabled director (operator): the ipvsadm commands, "
                    "nothing changed. Reads each director's live table.")
def reconcile_preview(request, director: Optional[str] = None):
    check_role(request.user, OPERATOR)
    planned = []
    for target in _directors(director):
        try:
            outcome = reconcile_director(target.pk, trigger="API preview", dry_run=True)
        except Exception as exc:  # every failure is this director's answer, not a 500
            log.info("reconcile preview of %s failed: %s", target, exc)
            planned.append({"director": target.name, "commands": [], "error": str(exc) or type(exc).__name__})
            continue
        planned.append({"director": target.name, "commands": [f"ipvsadm {c.line}" for c in outcome.commands]})
    return planned


@router.post("/reconcile", response=responses(ApplyQueued, {**READ}, 202),
             summary="Apply: queue a reconcile of each enabled director (operator); follow it on /live or "
                     "the Applies panel")
def reconcile_apply(request, director: Optional[str] = None):
    check_role(request.user, OPERATOR)
    targets = _directors(director)
    names = ", ".join(d.name for d in targets) or "no enabled director"
    with transaction.atomic():
        audit.record("apply", None, object_type="Director", object_repr=names[:255],
                     message=f"reconcile queued for {names}")
        request_reconciles([d.pk for d in targets], "API apply")
    detail = "Reconcile queued." if not getattr(request, "apply_deferred", False) else \
        "Saved and audited; it will be applied when Redis is back."
    return Status(202, {"directors": [d.name for d in targets], "detail": detail})


class LiveDestination(Schema):
    endpoint: str
    name: str
    forwarding: str
    weight: Optional[int]
    counters: dict[str, Any]
    admin_state: str
    health: str
    health_reason: str
    drift: str
    note: str


class LiveService(Schema):
    label: str
    name: str
    scheduler: str
    persistent: Optional[int]
    cps: int
    drift: str
    destinations: list[LiveDestination]


class LiveDirector(Schema):
    director: str
    status: str
    sync: str
    stale: str
    error: str
    read_at: Optional[float]
    services: list[LiveService]


def _destination(d) -> dict:
    return {"endpoint": str(d.endpoint), "name": d.name, "forwarding": d.forwarding, "weight": d.weight,
            "counters": d.data, "admin_state": d.admin_state, "health": d.health, "health_reason": d.health_reason,
            "drift": d.drift, "note": d.note}


@router.get("/live", response=responses(list[LiveDirector]),
            summary="The live routing table of each enabled director, as CONTROL/MONITORING shows it (viewer)")
def live_table(request):
    check_role(request.user, VIEWER)
    return [{"director": view.director.name, "status": view.director.status, "sync": view.sync, "stale": view.stale,
             "error": view.error, "read_at": view.snapshot["time"] if view.snapshot else None,
             "services": [{"label": row.label, "name": row.name, "scheduler": row.scheduler,
                           "persistent": row.persistent, "cps": row.cps, "drift": row.drift,
                           "destinations": [_destination(d) for d in row.destinations]} for row in rows]}
            for view, rows in director_views(enabled_directors())]
