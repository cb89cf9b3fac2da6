"""Celery tasks of the virtual-server app, and how reconciles are queued.

Thin: the work is in reconcile.py. Queueing lives here, beside the task it sends, so
views, the health checker and the live poller ask for a reconcile through one door:
coalesced per director (at most one pending, one running; the pending mark is a Redis
key that reconcile_director clears when it starts reading).

A change asks through the outbox (request_reconciles): a row written in the change's own
transaction, sent once it commits, or, while Redis is down, by the drain that beat sends
every few seconds and a worker runs when it starts. So a change committed is a change
applied, whatever Redis was doing at the time.
"""
import logging
from collections.abc import Iterable

from celery import shared_task
from celery.signals import worker_ready
from django.contrib import messages
from django.db import transaction
from django.utils import timezone

from lbadmin.middleware import current_request
from lbadmin.models import Director, FailoverRehearsal, RedundancyGroup
from lbadmin.redis_client import get_redis, note_failure, redis_outage

from . import failover_rehearsal, ipvs, outbox
from .reconcile import FROM_QUEUE, LOCK_TIMEOUT, PENDING_KEY, note_touched, reconcile_director

log = logging.getLogger(__name__)

# Transient: the director may come back. Anything else (a refused command, a
# host-key mismatch) needs a person, so retrying would only repeat it.
TRANSIENT = (ipvs.SSHRefused, ipvs.CommandTimeout)


def queue_reconcile(director_id: int, trigger: str, request_id: str = "",
                    touched: Iterable[int] | None = None) -> bool:
    """Queue a reconcile unless one is already pending for this director. `touched`: the
    virtual servers the change is limited to (None: anything may have changed). They are
    added to the director's touched set before the pending mark is tested, so a request
    coalesced into a pending reconcile still reaches it: that run takes the set as it
    starts (reconcile.take_pending)."""
    redis = get_redis()
    note_touched(redis, director_id, touched)
    key = PENDING_KEY.format(director_id)
    if not redis.set(key, trigger, nx=True, ex=LOCK_TIMEOUT):
        return False
    try:
        reconcile.delay(director_id, trigger, request_id)
    except Exception:
        # A pending mark with no message behind it would turn away every later request
        # for LOCK_TIMEOUT: take it back (if Redis still answers) before saying no.
        try:
            redis.delete(key)
        except Exception:
            pass
        raise
    return True


def queue_reconciles(director_ids: Iterable[int], trigger: str, touched: Iterable[int] | None = None) -> None:
    """For background callers (health transitions, slow start): a Redis outage is logged,
    not raised, because the 30 s sweep catches up once Redis is back."""
    for director_id in director_ids:
        try:
            queue_reconcile(director_id, trigger, touched=touched)
        except Exception:
            log.exception("could not queue a reconcile of director %s", director_id)


def _request_id() -> str:
    request = current_request.get()
    return getattr(request, "request_id", "") if request is not None else ""


APPLY_DEFERRED = "Saved and audited; it will be applied when Redis is back"


def request_reconciles(director_ids: Iterable[int], trigger: str, touched: Iterable[int] | None = None) -> None:
    """A change asks for reconciles: outbox rows in the caller's transaction, sent once it
    commits. Call it inside the change's transaction.atomic(). `touched`: the ids of the
    virtual servers a change is limited to (theirs, their real servers', their check's);
    leave it None for anything that may reach further."""
    director_ids = list(director_ids)
    if not director_ids:
        return
    outbox.record(director_ids, trigger, _request_id(), touched)
    transaction.on_commit(_drain_after_commit)


def configuration_changed(reason: str, touched: Iterable[int] | None = None) -> None:
    """The desired state changed: reconcile every enabled director (through the outbox);
    `touched` as in request_reconciles."""
    request_reconciles(Director.objects.filter(enabled=True).values_list("pk", flat=True), reason, touched)


def _drain_after_commit() -> None:
    """Best effort: the change is committed whatever happens here. With Redis down the
    rows wait for the periodic drain, and the person who made the change is told so."""
    outage = redis_outage()
    if outage is None:
        try:
            drain_outbox()
            return
        except Exception as exc:
            log.warning("reconcile requests left in the outbox: %s", exc)
    request = current_request.get()
    if request is not None and not getattr(request, "apply_deferred", False):
        request.apply_deferred = True  # once per request, however many changes it made
        why = redis_outage()
        messages.warning(request, f"{APPLY_DEFERRED} ({why.words})." if why else f"{APPLY_DEFERRED}.")


def drain_outbox() -> int:
    """Send the waiting reconcile requests, one reconcile per director; returns how many
    rows were sent. Raises when Redis (or the broker) refuses: the rows not sent stay."""
    claimed = outbox.claim()
    if not claimed.rows:
        return 0
    done = 0
    try:
        for director_id, rows in claimed.by_director().items():
            queue_reconcile(director_id, outbox.coalesced_trigger(rows), rows[-1].request_id,
                            touched=outbox.coalesced_touched(rows))
            outbox.sent(claimed, director_id)
            done += len(rows)
    except Exception as exc:
        outbox.release(claimed)
        note_failure(exc)
        raise
    return done


@shared_task(bind=True, ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60,
             retry_jitter=True, max_retries=5, acks_late=True)
def reconcile(self, director_id: int, trigger: str = "change", request_id: str = "") -> None:
    if not Director.objects.filter(pk=director_id, enabled=True).exists():
        return
    try:
        reconcile_director(director_id, trigger=trigger if not self.request.retries else f"retry {self.request.retries}",
                           request_id=request_id, touched=FROM_QUEUE)
    except TRANSIENT:
        raise  # retried with backoff (autoretry_for)
    except ipvs.IpvsError:
        # Already told where the operator looks: the failed run, the director's status and
        # one log line (reconcile.py). Raising would add Celery's traceback for an expected
        # condition: 285 of them in one minute of bench_load on a host without IPVS.
        return


@shared_task(ignore_result=True, expires=5)
def drain() -> None:
    """Beat, every few seconds, and a worker as it starts: send what a Redis outage left in
    the outbox (a failure is logged; the next drain tries again)."""
    try:
        drain_outbox()
    except Exception as exc:
        log.warning("reconcile outbox not drained: %s", exc)


@worker_ready.connect(dispatch_uid="lbadmin-drain-outbox-at-start")
def _drain_at_worker_start(sender=None, **kwargs) -> None:
    drain.delay()


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
