"""The worker-side health checker: one per installation, running in a worker process.

Design (issue 4, item 3):
- Beat sends `monitoring.tasks.health_tick` every second. The tick only makes sure a
  checker runs: in the worker process that holds the Redis lease `lbadmin:health:lease`
  it (re)starts this process's Checker if needed; in any other process (the second
  prefork child, a second worker) it finds the lease taken and returns at once. No
  Celery task per check, and the tick never waits for a check.
- The Checker has two threads. The check thread runs one asyncio event loop with the
  checks package's Scheduler: every check bounded by its own timeout, at most
  `concurrency` at a time, so a hung real server costs one slot for its timeout and never
  delays another's check. The Scheduler's callback only puts the result on a queue.
- The control thread applies results as they arrive (monitoring.health_counter.record_results,
  batched: one Redis round trip per batch; database writes only on transitions), and
  once a second renews the lease, re-reads the targets from the database (cheap; the
  Scheduler keeps the rhythm of unchanged targets), queues reconciles for servers that
  are ramping up (slow start) and publishes its status for CONTROL/MONITORING.
- The lease has a 5 s TTL and is renewed every second by the control thread, so exactly
  one checker runs; if the holder dies, another process takes over within the TTL plus
  a tick. A checker that cannot renew (Redis gone, lease lost) stops checking, so two
  never run at once. Counters live in Redis (monitoring.health_counter), so a takeover keeps them.
- The time of the latest result is stamped in Redis; the web page raises the alarm when
  it is older than three check intervals (monitoring.checker_alarm).
"""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Hashable

from django.db import close_old_connections, connection
from django.utils import timezone

from lbadmin.redis_client import get_redis
from monitoring.checks import CheckResult, Scheduler, Target
from virtualservers.models import VirtualServer
from virtualservers.slow_start import ramp_step
from virtualservers.tasks import queue_reconciles

from .check_targets import CheckTarget, RealServerHealth, TargetLoader
from .checker_alarm import CHECKER_KEY
from .health_counter import forget, record_results

log = logging.getLogger(__name__)

LEASE_KEY = "lbadmin:health:lease"
LEASE_TTL_MS = 5000
HOUSEKEEPING_SECONDS = 1.0
DEFAULT_CONCURRENCY = 512

# Renew only while still ours; take it only when free. One script, so no race.
_ACQUIRE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def acquire_lease(owner: str, ttl_ms: int = LEASE_TTL_MS) -> bool:
    """Take the checker lease, or renew it if `owner` holds it."""
    return bool(get_redis().eval(_ACQUIRE, 1, LEASE_KEY, owner, ttl_ms))


def release_lease(owner: str) -> None:
    get_redis().eval(_RELEASE, 1, LEASE_KEY, owner)


def lease_holder() -> str | None:
    return get_redis().get(LEASE_KEY)


class Checker:
    def __init__(self, owner: str, *, concurrency: int = DEFAULT_CONCURRENCY, lease_ttl_ms: int = LEASE_TTL_MS,
                 housekeeping: float = HOUSEKEEPING_SECONDS) -> None:
        self.owner = owner
        self.concurrency = concurrency
        self.lease_ttl_ms = lease_ttl_ms
        self.housekeeping = housekeeping
        self.started_at = time.time()
        self.applied = 0
        self.transitions = 0
        self._results: queue.SimpleQueue[tuple[Hashable, CheckResult, float]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._loop_ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: Scheduler | None = None
        self._loader = TargetLoader()
        self._targets: dict[int, CheckTarget] = {}
        self._known: dict[int, RealServerHealth] = {}
        self._ramp_queued: dict[int, float] = {}
        self._start_lag_ms = 0.0
        self._threads: list[threading.Thread] = []

    # --- life --------------------------------------------------------------------

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._check_thread, name="health-checks", daemon=True),
            threading.Thread(target=self._control_thread, name="health-control", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads) and not self._stop.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # --- the check thread ----------------------------------------------------------

    def _check_thread(self) -> None:
        try:
            asyncio.run(self._run_scheduler())
        except Exception:
            log.exception("health checker event loop failed")
        finally:
            self._stop.set()

    async def _run_scheduler(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._scheduler = Scheduler(self._on_result, concurrency=self.concurrency)
        self._loop_ready.set()
        watcher = asyncio.create_task(self._watch_stop())
        try:
            await self._scheduler.run()
        finally:
            watcher.cancel()

    async def _watch_stop(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        assert self._scheduler is not None
        self._scheduler.stop()

    def _on_result(self, target_id: Hashable, result: CheckResult) -> None:
        self._results.put((target_id, result, time.time()))

    # --- the control thread --------------------------------------------------------

    def _control_thread(self) -> None:
        try:
            self._loop_ready.wait(10)
            next_housekeeping = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_housekeeping:
                    if not self._housekeeping():
                        break
                    next_housekeeping = time.monotonic() + self.housekeeping
                self._apply_waiting(min(0.2, max(0.0, next_housekeeping - time.monotonic())))
        except Exception:
            log.exception("health checker control thread failed")
        finally:
            self._stop.set()
            try:
                release_lease(self.owner)
            except Exception:
                pass
            connection.close()

    def _housekeeping(self) -> bool:
        """Renew the lease, re-read the targets, ramp slow starts; False: stop."""
        try:
            if not acquire_lease(self.owner, self.lease_ttl_ms):
                log.warning("health checker %s lost its lease; stopping", self.owner)
                return False
        except Exception:
            log.exception("health checker cannot renew its lease; stopping so that no two run")
            return False
        close_old_connections()
        targets, known = self._loader.load()
        gone = set(self._targets) - set(targets)
        self._targets, self._known = targets, known
        scheduled = [Target(rs_id, target.spec, target.interval) for rs_id, target in targets.items()]
        assert self._loop is not None and self._scheduler is not None
        self._loop.call_soon_threadsafe(self._scheduler.set_targets, scheduled)
        self._loop.call_soon_threadsafe(self._take_start_lag)
        if gone:
            forget(gone)
        self._ramp()
        get_redis().hset(CHECKER_KEY, mapping={
            "owner": self.owner, "since": f"{self.started_at:.3f}", "targets": len(targets),
            "results": self.applied, "transitions": self.transitions, "renewed": f"{time.time():.3f}",
            "lag_ms": f"{self._start_lag_ms:.1f}",
        })
        return True

    def _take_start_lag(self) -> None:
        """In the loop's thread (the Scheduler's own), so no raise of the figure is lost:
        the worst lateness of a check's start since the previous housekeeping (/metrics)."""
        assert self._scheduler is not None
        self._start_lag_ms, self._scheduler.stats.max_start_lag_ms = self._scheduler.stats.max_start_lag_ms, 0.0

    def _apply_waiting(self, wait: float) -> None:
        try:
            first = self._results.get(timeout=wait) if wait > 0 else self._results.get_nowait()
        except queue.Empty:
            return
        batch = [first]
        while len(batch) < 5000:
            try:
                batch.append(self._results.get_nowait())
            except queue.Empty:
                break
        results = [(self._targets[rs_id], result) for rs_id, result, _ in batch if rs_id in self._targets]
        applied = record_results(results, self._known, at=batch[-1][2])
        self.applied += len(results)
        self.transitions += len(applied)
        now = timezone.now()
        for transition in applied:
            self._known[transition.rs_id] = RealServerHealth(transition.new, now)

    def _ramp(self) -> None:
        """While a server ramps up after coming back (slow start), reconcile in steps so
        the kernel's weight follows virtualservers.slow_start.desired_weight."""
        now = timezone.now()
        for rs_id, target in self._targets.items():
            known = self._known.get(rs_id)
            if not target.slow_start or known is None or known.health != "up" or known.since is None:
                continue
            # One step past the end, so the final full weight is applied too.
            if (now - known.since).total_seconds() > target.slow_start + ramp_step(target.slow_start):
                continue
            last = self._ramp_queued.get(target.vs_id, 0.0)
            if time.monotonic() - last < ramp_step(target.slow_start):
                continue
            self._ramp_queued[target.vs_id] = time.monotonic()
            vs = VirtualServer.objects.filter(pk=target.vs_id).first()
            if vs is not None:
                queue_reconciles(vs.target_directors().values_list("pk", flat=True), "slow start", touched=[vs.pk])


# --- one per process, started by the tick ------------------------------------------

_process_checker: tuple[int, Checker] | None = None
_process_token = uuid.uuid4().hex[:8]


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_process_token}"


def tick() -> str:
    """Make sure exactly one checker runs; cheap when this process is not the one."""
    global _process_checker
    current = _process_checker[1] if _process_checker and _process_checker[0] == os.getpid() else None
    if current is not None and current.alive():
        return "running here"
    owner = owner_name()
    if not acquire_lease(owner):
        return f"running in {lease_holder() or 'another process'}"
    checker = Checker(owner)
    _process_checker = (os.getpid(), checker)
    checker.start()
    log.info("health checker started in %s", owner)
    return "started here"


def stop_process_checker() -> None:
    global _process_checker
    if _process_checker and _process_checker[0] == os.getpid():
        _process_checker[1].stop()
    _process_checker = None
