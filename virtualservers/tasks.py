"""Celery tasks of the virtual-server app, and how reconciles are queued.

Thin: the work is in reconcile.py. Queueing lives here, beside the task it sends, so
views, the health checker and the live poller ask for a reconcile through one door:
coalesced per director (at most one pending, one running; the pending mark is a Redis
key that reconcile_director clears when it starts reading).
"""
import logging
from collections.abc import Iterable

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from lbadmin.middleware import current_request
from lbadmin.models import Director, FailoverRehearsal, RedundancyGroup
from lbadmin.redis_client import get_redis

from . import failover_rehearsal, ipvs
from .reconcile import LOCK_TIMEOUT, PENDING_KEY, reconcile_director

log = logging.getLogger(__name__)

# Transient: the director may come back. Anything else (a refused command, a
# host-key mismatch) needs a person, so retrying would only repeat it.
TRANSIENT = (ipvs.SSHRefused, ipvs.CommandTimeout)


def queue_reconcile(director_id: int, trigger: str, request_id: str = "") -> bool:
    """Queue a reconcile unless one is already pending for this director."""
    if not get_redis().set(PENDING_KEY.format(director_id), trigger, nx=True, ex=LOCK_TIMEOUT):
        return False
    reconcile.delay(director_id, trigger, request_id)
    return True


def queue_reconciles(director_ids: Iterable[int], trigger: str) -> None:
    """For background callers (health transitions, slow start): a Redis outage is logged,
    not raised, because the 30 s sweep catches up once Redis is back."""
    for director_id in director_ids:
        try:
            queue_reconcile(director_id, trigger)
        except Exception:
            log.exception("could not queue a reconcile of director %s", director_id)


def _request_id() -> str:
    request = current_request.get()
    return getattr(request, "request_id", "") if request is not None else ""


def queue_reconcile_all(reason: str) -> None:
    request_id = _request_id()
    for director_id in Director.objects.filter(enabled=True).values_list("pk", flat=True):
        queue_reconcile(director_id, reason, request_id)


def configuration_changed(reason: str) -> None:
    """The desired state changed: reconcile every director once the transaction commits."""
    transaction.on_commit(lambda: queue_reconcile_all(reason))


@shared_task(bind=True, ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60,
             retry_jitter=True, max_retries=5, acks_late=True)
def reconcile(self, director_id: int, trigger: str = "change", request_id: str = "") -> None:
    if not Director.objects.filter(pk=director_id, enabled=True).exists():
        return
    reconcile_director(director_id, trigger=trigger if not self.request.retries else f"retry {self.request.retries}",
                       request_id=request_id)


@shared_task(ignore_result=True, expires=25)
def sweep() -> None:
    """Periodic: find drift and anything whose time came (a drain that ended)."""
    for director_id in Director.objects.filter(enabled=True).values_list("pk", flat=True):
        queue_reconcile(director_id, "sweep")


# --- failover rehearsals (the work: failover_rehearsal.py) ---------------------------------

def queue_rehearsal(group: RedundancyGroup, *, user=None, trigger: str = FailoverRehearsal.Trigger.MANUAL,
                    request_id: str = "") -> FailoverRehearsal:
    """A pending rehearsal, queued once it is committed; RehearsalRefused says why not."""
    rehearsal = failover_rehearsal.request_rehearsal(group, user=user, trigger=trigger, request_id=request_id)

    def send() -> None:
        try:
            rehearse_failover.delay(rehearsal.pk)
        except Exception as exc:  # the broker is down: the row must not stay pending
            FailoverRehearsal.objects.filter(pk=rehearsal.pk, result=FailoverRehearsal.Result.PENDING).update(
                result=FailoverRehearsal.Result.FAILED, finished_at=timezone.now(),
                error=f"could not be queued ({exc.__class__.__name__}: {exc}); nothing was stopped")

    transaction.on_commit(send)
    return rehearsal


@shared_task(ignore_result=True, acks_late=True, time_limit=180, soft_time_limit=150)
def rehearse_failover(rehearsal_id: int) -> None:
    # No retries: a failover must not be repeated behind the operator's back. A duplicate
    # delivery finds the row no longer pending and does nothing.
    failover_rehearsal.run_rehearsal(rehearsal_id)


@shared_task(ignore_result=True, expires=600)
def rehearse_due() -> None:
    """Beat, hourly: start the rehearsals whose schedule came due."""
    for group in failover_rehearsal.due_groups():
        try:
            with transaction.atomic():
                queue_rehearsal(group, trigger=FailoverRehearsal.Trigger.SCHEDULE)
        except failover_rehearsal.RehearsalRefused as refused:
            log.info("scheduled rehearsal of %s not started: %s", group, refused)
