"""Celery tasks of the monitoring app. Thin: the work is in the modules they name."""
import logging
import time

from celery import shared_task
from django.db import transaction

from lbadmin.models import Director
from lbadmin.redis_client import get_redis

from . import alerts_delivery, history
from .checker import tick
from .live_poller import poll_if_idle
from .manual_checks import run_queued
from .process_pings import HEARTBEAT_KEY

log = logging.getLogger(__name__)


# Beat sends this every 5 s. It expires after 10 s, so a worker coming back
# after an outage does not replay old ticks as proof that beat is alive now.
@shared_task(ignore_result=True, expires=10)
def heartbeat() -> None:
    get_redis().set(HEARTBEAT_KEY, str(time.time()), ex=3600)


# Beat sends this every 2 s to the "live" queue (settings.CELERY_TASK_ROUTES), which the
# Procfile's poller alone consumes. An old one is worthless, so it expires before the next
# is due and a slow director never builds a queue; a director still being read is skipped.
@shared_task(ignore_result=True, expires=2)
def poll_live() -> None:
    for director in Director.objects.filter(enabled=True):
        poll_if_idle(director)


# Beat sends this every 10 s: one slot of every server's history from the live snapshots
# (monitoring/history.py). A late one would land in a later slot: worthless, so it expires.
@shared_task(ignore_result=True, expires=10)
def sample_history() -> int:
    return history.sample()


# Beat sends this every minute: the history's complete 5 minutes into the database, its
# finished days downsampled, the old pruned. Idempotent.
@shared_task(ignore_result=True, expires=120, time_limit=600)
def keep_history() -> dict:
    return history.keep()


# Beat sends this every second. It only makes sure one health checker runs (see
# monitoring/checker.py): it returns at once, and a late one is worthless.
@shared_task(ignore_result=True, expires=2)
def health_tick() -> str:
    return tick()


# "Check now" and "try it" of a program check: run here in the worker, never in the web
# process; the line goes to the Redis hash the page polls (monitoring/manual_checks.py).
@shared_task(ignore_result=True)
def manual_check(token: str, kind: str, rs_pk: int, payload: dict | None = None) -> None:
    run_queued(token, kind, rs_pk, payload)


def queue_manual_check(token: str, kind: str, rs_pk: int, payload: dict | None, wait: float) -> None:
    """Send once the audit entry is committed; unrun after `wait` s (the page gave up)."""
    transaction.on_commit(lambda: manual_check.apply_async(
        (token, kind, rs_pk, payload), expires=wait, time_limit=int(wait) + 30))


# --- alerts (the work: alerts_delivery.py) ---------------------------------------------------

# Beat sends this every 2 s, and an event's commit nudges it: watch the checker alarm,
# route new events into batches, and hand each batch that came due to deliver_alert.
@shared_task(ignore_result=True, expires=10)
def alerts_tick() -> None:
    try:
        alerts_delivery.watch_checker()
    except Exception:
        log.exception("checker alarm not watched")
    alerts_delivery.route()
    for delivery_id in alerts_delivery.claim_due():
        try:
            deliver_alert.delay(delivery_id)
        except Exception:
            alerts_delivery.release(delivery_id)
            raise


# One attempt; a failure is recorded with its next time (alerts_delivery.BACKOFF) and the
# tick sends it again then, so this task never retries by itself.
@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def deliver_alert(delivery_id: int) -> None:
    alerts_delivery.attempt(delivery_id)


@shared_task(ignore_result=True, expires=600)
def alerts_prune() -> None:
    """Beat, hourly: messages older than LBADMIN_ALERT_KEEP_DAYS go."""
    alerts_delivery.prune()
