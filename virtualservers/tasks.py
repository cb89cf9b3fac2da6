"""Celery tasks of the virtual-server app. Thin: the work is in reconcile.py."""
from celery import shared_task

from lbadmin.middleware import current_request
from lbadmin.models import Director

from . import ipvs

# Transient: the director may come back. Anything else (a refused command, a
# host-key mismatch) needs a person, so retrying would only repeat it.
TRANSIENT = (ipvs.SSHRefused, ipvs.CommandTimeout)


def queue_reconcile_all(reason: str) -> None:
    from .reconcile import queue_reconcile

    request = current_request.get()
    request_id = getattr(request, "request_id", "") if request is not None else ""
    for director_id in Director.objects.filter(enabled=True).values_list("pk", flat=True):
        queue_reconcile(director_id, reason, request_id)


@shared_task(bind=True, ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60,
             retry_jitter=True, max_retries=5, acks_late=True)
def reconcile(self, director_id: int, trigger: str = "change", request_id: str = "") -> None:
    from .reconcile import reconcile_director

    if not Director.objects.filter(pk=director_id, enabled=True).exists():
        return
    reconcile_director(director_id, trigger=trigger if not self.request.retries else f"retry {self.request.retries}",
                       request_id=request_id)


@shared_task(ignore_result=True, expires=25)
def sweep() -> None:
    """Periodic: find drift and anything whose time came (a drain that ended)."""
    from .reconcile import queue_reconcile

    for director_id in Director.objects.filter(enabled=True).values_list("pk", flat=True):
        queue_reconcile(director_id, "sweep")
