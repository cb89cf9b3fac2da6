"""Celery tasks of the virtual-server app. Thin: the work is in reconcile.py."""
from celery import shared_task

from lbadmin.models import Director


def queue_reconcile_all(reason: str) -> None:
    for director_id in Director.objects.filter(enabled=True).values_list("pk", flat=True):
        reconcile.delay(director_id, reason)


@shared_task(ignore_result=True)
def reconcile(director_id: int, trigger: str = "change", request_id: str = "") -> None:
    from .reconcile import reconcile_director

    reconcile_director(director_id, trigger=trigger, request_id=request_id)
