"""Running many checks at once: a one-off batch, and the long-running Scheduler.

Concurrency is bounded (file descriptors and CPU are finite) and every
check carries its own timeout inside run_check, so one hung real server costs one slot
for at most its timeout and never delays the checks of the others (keepalived #2523:
a hung checker kept a server out for good).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Any

from .connect_prober import ConnectProber, http_exchange, probe_address
from .runner import run_check
from .spec import CheckResult, CheckSpec

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 512
# Due times are kept in slots of this many seconds, and a slot's checks start together
# (up to one slot early): a wake-up of the event loop costs more than a check (two
# epoll_wait calls and the loop's own bookkeeping), so thousands of targets spread over
# a few seconds start in batches, and the queue is a dict of lists plus a heap of slot
# numbers, not a heap of every check (a tuple-comparing heap cost 1.3 us a check).
SLOT_SECONDS = 0.010
_SLOTS_PER_SECOND = 1.0 / SLOT_SECONDS
# The loop may run a timer up to its clock resolution early: still that slot's turn.
_EARLY_SECONDS = 0.002

# What _deliver returns when every callback was a plain function (nearly always).
_NOTHING_PENDING: tuple = ()

ResultCallback = Callable[[Hashable, CheckResult], Awaitable[None] | None]


async def run_batch(specs: Sequence[CheckSpec], *, concurrency: int = DEFAULT_CONCURRENCY) -> list[CheckResult]:
    """Run every spec, at most `concurrency` at a time; results in the order given."""
    results: list[CheckResult | None] = [None] * len(specs)
    indexes = iter(range(len(specs)))  # shared: each worker takes the next index

    async def worker() -> None:
        for index in indexes:
            results[index] = await run_check(specs[index])

    # A fixed pool of workers rather than a task per spec behind an asyncio.Semaphore:
    # Python 3.11's Semaphore scans all its waiters on every release, which made
    # thousands of queued checks cost more CPU than the checks themselves.
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(specs)))))
    return results  # type: ignore[return-value]  # every index was filled


@dataclass(frozen=True)
class Target:
    """One thing to check: `id` is the caller's (e.g. a RealServer's primary key)."""

    id: Hashable
    spec: CheckSpec
    interval: float  # seconds from one check's scheduled start to the next


@dataclass(eq=False, slots=True)
class _Probe:
    """One check run every `interval` for every target that asks for exactly it (same
    spec, same interval): its result goes to each of them (`subscribers`, in the order
    they joined)."""

    spec: CheckSpec
    interval: float
    subscribers: dict[Hashable, None]
    address: tuple[int, tuple] | None = None  # (family, sockaddr): the ConnectProber runs it
    http: tuple[CheckSpec, Any] | None = None  # and this HTTP exchange over it (plain HTTP)
    due: float = 0.0
    token: int = 0  # a heap entry is live only while its token equals this
    in_flight: bool = False  # running, or due and waiting for a free slot
    removed: bool = False


@dataclass
class SchedulerStats:
    targets: int = 0
    probes: int = 0  # checks actually run per round: targets with identical checks share one
    in_flight: int = 0
    started: int = 0
    completed: int = 0
    callback_errors: int = 0
    # Worst delay between a check's due time and its start, since someone last reset it
    # (monitoring.checker does so every second, for /metrics).
    max_start_lag_ms: float = 0.0


@dataclass(eq=False)
class Scheduler:
    """Checks each target every `interval` seconds and hands each result to `callback`.

    Targets asking for the same check (equal spec and interval: the same real server
    checked the same way by several services) share one probe, run once per interval,
    and each of them gets its result (keepalived runs one per service).

    The due times live in slots of SLOT_SECONDS (a list of probes per slot, a heap of the
    slot numbers) and one timer sleeps until the earliest slot, so a cycle costs O(1) per
    check and nothing while idle. One run of a probe at a time: a
    check slower than its interval delays only its own next run. New probes start at a
    random point of their first interval (`spread`), so thousands of targets do not all
    fire in the same millisecond. Plain TCP and plain HTTP checks of IP addresses go
    through one shared ConnectProber (`fast_tcp`); every other check runs as its own task
    through run_check.

    Call add / remove / set_targets from the event loop's thread; from another thread,
    use loop.call_soon_threadsafe(scheduler.set_targets, targets). The callback may be a
    plain function or a coroutine function; its errors are logged, never fatal.
    """

    callback: ResultCallback
    concurrency: int = DEFAULT_CONCURRENCY
    spread: bool = True
    fast_tcp: bool = True
    stats: SchedulerStats = field(default_factory=SchedulerStats)

    def __post_init__(self) -> None:
        self._targets: dict[Hashable, Target] = {}
        self._probes: dict[tuple[CheckSpec, float], _Probe] = {}
        # slot number -> (token, probe) due in it; a heap of the slot numbers present
        self._slots: dict[int, list[tuple[int, _Probe]]] = {}
        self._slot_heap: list[int] = []
        self._ready: deque[_Probe] = deque()  # due, waiting for a free slot
        self._tasks: set[asyncio.Task[None]] = set()
        self._prober: ConnectProber | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = 0
        self._start_soon = False
        self._stopping = False

    # --- targets -------------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Make the set of targets exactly `targets`: new ones are added, missing ones
        removed, changed ones (spec or interval) re-checked soon; unchanged ones keep
        their rhythm, so the worker can call this every time it reads the database."""
        wanted = {target.id: target for target in targets}
        for target_id in [known for known in self._targets if known not in wanted]:
            self.remove(target_id)
        for target in wanted.values():
            self.add(target)

    def add(self, target: Target) -> None:
        if not target.interval > 0:
            raise ValueError(f"interval must be above 0 s, not {target.interval!r}")
        known = self._targets.get(target.id)
        if known == target:
            return
        changed = known is not None
        if changed:
            self._unsubscribe(known)
        self._targets[target.id] = target
        key = (target.spec, target.interval)
        probe = self._probes.get(key)
        now = time.monotonic()
        if probe is None:
            address = probe_address(target.spec) if self.fast_tcp else None
            exchange = http_exchange(target.spec) if address is not None else None
            probe = self._probes[key] = _Probe(target.spec, target.interval, {}, address,
                                               (target.spec, exchange) if exchange else None)
            offset = random.uniform(0, target.interval) if self.spread and not changed else 0.0
            self._schedule(probe, now + offset)
        elif changed and not probe.in_flight:
            # A changed target is checked soon, as before sharing: the shared probe runs
            # early once (a run in flight already checks exactly what it now asks for).
            self._schedule(probe, now)
        probe.subscribers[target.id] = None
        self._count()

    def remove(self, target_id: Hashable) -> None:
        target = self._targets.pop(target_id, None)
        if target is not None:
            self._unsubscribe(target)
        self._count()

    def _unsubscribe(self, target: Target) -> None:
        key = (target.spec, target.interval)
        probe = self._probes[key]
        del probe.subscribers[target.id]
        if not probe.subscribers:
            del self._probes[key]
            probe.removed = True
            probe.token += 1

    def _count(self) -> None:
        self.stats.targets = len(self._targets)
        self.stats.probes = len(self._probes)

    def __contains__(self, target_id: Hashable) -> bool:
        return target_id in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    # --- running -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask run() to return; checks still in flight are abandoned (no results)."""
        self._stopping = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def run(self) -> None:
        """Check targets until stop(). May be called again after it returns."""
        self._stopping = False
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        self._prober = ConnectProber(self._probe_done)
        self._requeue_all()  # before self._loop is set, so it arms no timer: _on_timer arms the one
        self._loop = loop
        try:
            self._on_timer()
            await self._stopped
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._prober.close()
            self._prober = None
            self._loop = None
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self.stats.in_flight = 0

    def _requeue_all(self) -> None:
        """Rebuild the queue from the probes, so checks abandoned by an earlier stop()
        run again (each at its last due time, which has passed: at once)."""
        self._slots.clear()
        self._slot_heap.clear()
        self._ready.clear()
        for probe in self._probes.values():
            probe.in_flight = False
            self._schedule(probe, probe.due)

    def _schedule(self, probe: _Probe, due: float) -> None:
        probe.token += 1
        probe.due = due
        slot = int(due * _SLOTS_PER_SECOND)
        waiting = self._slots.get(slot)
        if waiting is not None:
            waiting.append((probe.token, probe))
            return
        self._slots[slot] = [(probe.token, probe)]
        heappush(self._slot_heap, slot)
        if self._loop is not None and (self._timer is None or slot < self._timer_slot):
            self._arm(slot)

    def _arm(self, slot: int) -> None:
        """One timer for the whole queue, set for its earliest slot."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        delay = slot * SLOT_SECONDS - time.monotonic()
        self._timer = self._loop.call_later(max(0.0, delay), self._on_timer)  # type: ignore[union-attr]

    def _on_timer(self) -> None:
        self._timer = None
        if self._stopping:
            return
        slots, slot_heap, ready = self._slots, self._slot_heap, self._ready
        current = int((time.monotonic() + _EARLY_SECONDS) * _SLOTS_PER_SECOND)
        while slot_heap and slot_heap[0] <= current:
            for token, probe in slots.pop(heappop(slot_heap)):
                if token != probe.token or probe.removed:
                    continue  # superseded by a later _schedule, or removed
                probe.in_flight = True
                ready.append(probe)
        if slot_heap and self._timer is None:
            self._arm(slot_heap[0])
        self._start_ready()

    def _start_ready(self) -> None:
        """Start waiting checks while there are free slots. Checks wait here, as probes
        rather than tasks, so a backlog costs nothing until it can run."""
        self._start_soon = False
        ready, stats, prober = self._ready, self.stats, self._prober
        now = time.monotonic()
        while ready and stats.in_flight < self.concurrency and not self._stopping:
            probe = ready.popleft()
            if probe.removed:
                probe.in_flight = False
                continue
            stats.started += 1
            stats.in_flight += 1
            lag_ms = (now - probe.due) * 1000.0
            if lag_ms > stats.max_start_lag_ms:
                stats.max_start_lag_ms = lag_ms
            if probe.address is not None and prober is not None:
                prober.start_to(probe, probe.address[0], probe.address[1], probe.spec.timeout, probe.http)
            else:
                self._track(self._check(probe))

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, probe: _Probe) -> None:
        try:
            result = await run_check(probe.spec)
        finally:
            self._free(probe)
        for pending, target_id in self._deliver(probe, result):
            await self._await_callback(pending, target_id)

    def _probe_done(self, probe: _Probe, result: CheckResult) -> None:
        self._free(probe)
        for pending, target_id in self._deliver(probe, result):
            self._track(self._await_callback(pending, target_id))

    def _free(self, probe: _Probe) -> None:
        """A check ended: its slot is free. Waiting checks start from the loop, not from
        here, so a run of instant failures cannot recurse."""
        probe.in_flight = False
        self.stats.in_flight -= 1
        if self._ready and not self._start_soon and not self._stopping:
            self._start_soon = True
            asyncio.get_running_loop().call_soon(self._start_ready)

    def _deliver(self, probe: _Probe, result: CheckResult) -> Sequence[tuple[Awaitable[Any], Hashable]]:
        """Schedule the next check, then hand the result to every subscriber; returns
        what async callbacks still have to finish."""
        self.stats.completed += 1
        if probe.removed:
            return _NOTHING_PENDING
        # Schedule before calling back, so a slow callback cannot slow the checks.
        due = probe.due + probe.interval
        now = time.monotonic()
        self._schedule(probe, due if due > now else now)
        pending: Sequence[tuple[Awaitable[Any], Hashable]] = _NOTHING_PENDING
        callback = self.callback
        for target_id in tuple(probe.subscribers):  # a callback may remove targets
            try:
                outcome = callback(target_id, result)
            except Exception:
                self._callback_failed(target_id)
                continue
            if outcome is not None and inspect.isawaitable(outcome):
                pending = [*pending, (outcome, target_id)]
        return pending

    async def _await_callback(self, pending: Awaitable[Any], target_id: Hashable) -> None:
        try:
            await pending
        except Exception:
            self._callback_failed(target_id)

    def _callback_failed(self, target_id: Hashable) -> None:
        self.stats.callback_errors += 1
        log.exception("health-check result callback failed for %r", target_id)
