"""The reconcile outbox, database side: rows written in a change's transaction, claimed
by one drainer at a time, deleted once sent. The sending (Celery, Redis) is in tasks.py,
the one door to the queue; nothing here touches Redis."""
from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from .models import ReconcileRequest

CLAIM_SECONDS = 60  # a claim this old belongs to a drainer that died between claim and send
BATCH = 1000
TRIGGER_LENGTH = ReconcileRequest._meta.get_field("trigger").max_length


def record(director_ids: Iterable[int], trigger: str, request_id: str = "",
           touched: Iterable[int] | None = None) -> None:
    """Ask for a reconcile of each director, in the caller's transaction. `touched`: the
    virtual servers the change is limited to; None (the safe default) for anything else."""
    now = timezone.now()
    touched = sorted(set(touched)) if touched is not None else None
    ReconcileRequest.objects.bulk_create([
        ReconcileRequest(director_id=pk, trigger=trigger[:TRIGGER_LENGTH], request_id=request_id[:64],
                         created_at=now, touched=touched)
        for pk in director_ids])


@dataclass(frozen=True)
class Claimed:
    owner: str
    rows: list[ReconcileRequest]

    def by_director(self) -> dict[int, list[ReconcileRequest]]:
        """Many rows for one director are one reconcile: grouped, oldest first."""
        groups: dict[int, list[ReconcileRequest]] = {}
        for row in self.rows:
            groups.setdefault(row.director_id, []).append(row)
        return groups


def _free(now: datetime.datetime) -> Q:
    return Q(claimed_by="") | Q(claimed_at__lt=now - datetime.timedelta(seconds=CLAIM_SECONDS))


def claim() -> Claimed:
    """Take the waiting rows for one drainer. The UPDATE repeats the "free" condition, so
    of two drainers racing for a row exactly one gets it, on SQLite (writes are serialized)
    and on PostgreSQL (the condition is checked again on the row once its lock is had)."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    ids = list(ReconcileRequest.objects.filter(_free(now)).values_list("pk", flat=True)[:BATCH])
    if not ids:
        return Claimed(owner, [])
    ReconcileRequest.objects.filter(_free(now), pk__in=ids).update(claimed_by=owner, claimed_at=now)
    return Claimed(owner, list(ReconcileRequest.objects.filter(claimed_by=owner)))


def sent(claimed: Claimed, director_id: int) -> None:
    ReconcileRequest.objects.filter(claimed_by=claimed.owner, director_id=director_id).delete()


def release(claimed: Claimed) -> None:
    """Sending failed: the rows wait for the next drain."""
    ReconcileRequest.objects.filter(claimed_by=claimed.owner).update(claimed_by="", claimed_at=None)


def coalesced_trigger(rows: list[ReconcileRequest]) -> str:
    """The apply run's trigger for several requests: the newest, and how many more."""
    newest = rows[-1].trigger
    more = len(rows) - 1
    if not more or all(row.trigger == newest for row in rows):
        return newest
    suffix = f" +{more}"
    return newest[:TRIGGER_LENGTH - len(suffix)] + suffix


def coalesced_touched(rows: list[ReconcileRequest]) -> list[int] | None:
    """The virtual servers several requests touched: their union, or None (build the whole
    table) when any of them may have changed anything."""
    if any(row.touched is None for row in rows):
        return None
    return sorted({int(pk) for row in rows for pk in row.touched})


def waiting() -> dict[int, int]:
    """Director id -> rows not yet sent (the Applies panel's "waiting for Redis")."""
    return dict(ReconcileRequest.objects.values_list("director_id").annotate(n=Count("pk")).order_by())
