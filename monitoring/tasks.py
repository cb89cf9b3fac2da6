"""Celery tasks of the monitoring app. Thin: the work is in the modules they name."""
import time

from celery import shared_task

from lbadmin.models import Director
from lbadmin.redis_client import get_redis

from .checker import tick
from .live_poller import poll_director
from .process_pings import HEARTBEAT_KEY


# Beat sends this every 5 s. It expires after 10 s, so a worker coming back
# after an outage does not replay old ticks as proof that beat is alive now.
@shared_task(ignore_result=True, expires=10)
def heartbeat() -> None:
    get_redis().set(HEARTBEAT_KEY, str(time.time()), ex=3600)


# Beat sends this every 2 s; an old one is worthless, so it expires before
# the next is due and a slow director never builds a queue.
@shared_task(ignore_result=True, expires=2)
def poll_live() -> None:
    for director in Director.objects.filter(enabled=True):
        poll_director(director)


# Beat sends this every second. It only makes sure one health checker runs (see
# monitoring/checker.py): it returns at once, and a late one is worthless.
@shared_task(ignore_result=True, expires=2)
def health_tick() -> str:
    return tick()
