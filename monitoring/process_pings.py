"""Measured liveness of the product's own processes.

Nothing here is assumed: Redis answers a PING (round trip timed), the
worker and the live poller answer a Celery control ping, beat proves itself by the heartbeat
task it schedules every few seconds, which the worker stamps in Redis with
the time beat sent it.
"""
import os
import time
from dataclasses import dataclass

import psutil

from lbadmin.celery import app
from lbadmin.redis_client import get_redis, redis_outage

HEARTBEAT_KEY = "lbadmin:heartbeat:beat"
BEAT_STALE_AFTER = 20.0  # seconds: four missed 5 s ticks


@dataclass
class Liveness:
    name: str
    up: bool | None  # None: cannot tell (e.g. beat while the worker is down)
    detail: str


def check_web() -> Liveness:
    proc = psutil.Process(os.getpid())
    uptime = time.time() - proc.create_time()
    rss = proc.memory_info().rss / 2**20
    return Liveness("web", True, f"pid {proc.pid}, up {uptime:.0f} s, {rss:.0f} MiB")


def check_redis() -> Liveness:
    outage = redis_outage()  # at most one short probe for the whole page, not a 2-s wait
    if outage is not None:
        return Liveness("redis", False, f"no answer: {outage.words} ({outage.reason})")
    started = time.perf_counter()
    try:
        get_redis().ping()
    except Exception as exc:  # any failure to talk to Redis is "down", with its reason
        return Liveness("redis", False, f"no answer: {exc}")
    return Liveness("redis", True, f"PING {1000 * (time.perf_counter() - started):.1f} ms")


# The Procfile names the live poller's worker `poller@<host>` (it consumes only the `live`
# queue); every other node that answers is a worker of the default queue.
POLLER_PREFIX = "poller@"


def check_workers(timeout: float = 1.0) -> tuple[Liveness, Liveness]:
    """The worker and the live poller, from one Celery control ping."""
    started = time.perf_counter()
    try:
        # limit=2: return as soon as both have answered instead of always waiting the timeout.
        replies = app.control.ping(timeout=timeout, limit=2)
    except Exception as exc:
        return Liveness("worker", False, f"cannot ask: {exc}"), Liveness("poller", False, f"cannot ask: {exc}")
    took = f"{1000 * (time.perf_counter() - started):.0f} ms"
    names = sorted(name for reply in replies for name in reply)
    found = []
    for what, nodes in (("worker", [n for n in names if not n.startswith(POLLER_PREFIX)]),
                        ("poller", [n for n in names if n.startswith(POLLER_PREFIX)])):
        if nodes:
            found.append(Liveness(what, True, f"{', '.join(nodes)} answered a ping in {took}"))
        else:
            found.append(Liveness(what, False, f"no {what} answered within {timeout:.0f} s"))
    return found[0], found[1]


def check_worker(timeout: float = 1.0) -> Liveness:
    return check_workers(timeout)[0]


def check_beat(worker_up: bool) -> Liveness:
    try:
        stamp = get_redis().get(HEARTBEAT_KEY)
    except Exception as exc:
        return Liveness("beat", None, f"cannot read heartbeat: {exc}")
    if stamp is None:
        return Liveness("beat", None if not worker_up else False, "no heartbeat seen yet")
    age = time.time() - float(stamp)
    if age <= BEAT_STALE_AFTER:
        return Liveness("beat", True, f"last tick {age:.0f} s ago")
    if not worker_up:
        return Liveness("beat", None, f"last tick {age:.0f} s ago; the worker is down, so beat cannot be judged")
    return Liveness("beat", False, f"last tick {age:.0f} s ago")


def check_all() -> list[Liveness]:
    web, redis_ = check_web(), check_redis()
    if redis_.up:
        worker, poller = check_workers()
    else:
        worker, poller = Liveness("worker", None, "Redis is down"), Liveness("poller", None, "Redis is down")
    beat = check_beat(bool(worker.up)) if redis_.up else Liveness("beat", None, "Redis is down")
    return [web, worker, poller, beat, redis_]
