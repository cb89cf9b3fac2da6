import time

from celery import shared_task

from .liveness import HEARTBEAT_KEY
from .redis_client import get_redis


# Beat sends this every 5 s. It expires after 10 s, so a worker coming back
# after an outage does not replay old ticks as proof that beat is alive now.
@shared_task(ignore_result=True, expires=10)
def heartbeat() -> None:
    get_redis().set(HEARTBEAT_KEY, str(time.time()), ex=3600)
