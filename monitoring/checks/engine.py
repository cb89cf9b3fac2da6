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
from itertools import count
from typing import Any

from .connect_prober import ConnectProber, can_probe
from .runner import run_check
from .spec import CheckResult, CheckSpec

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 512
# Checks due within this much of each other start together: fewer loop wake-ups when
# thousands of targets are spread over a few seconds.
COALESCE_SECONDS = 0.002

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


@dataclass(eq=False)
class _Slot:
    target: Target
    probe: bool = False  # a plain TCP check of an IP: goes through the ConnectProber
    due: float = 0.0
    token: int = 0  # a heap entry is live only while its token equals this
    in_flight: bool = False  # running, or due and waiting for a free slot
    changed_in_flight: bool = False
    removed: bool = False


@dataclass
class SchedulerStats:
    targets: int = 0
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

    The due times live in a heap, so a cycle costs O(log n) per check and nothing while
    idle. One check per target at a time: a check slower than its interval delays only
    its own next run. New targets start at a random point of their first interval
    (`spread`), so thousands of targets do not all fire in the same millisecond.
    Plain TCP checks of IP addresses go through one shared ConnectProber (`fast_tcp`);
    every other check runs as its own task through run_check.

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
        self._slots: dict[Hashable, _Slot] = {}
        self._heap: list[tuple[float, int, int, _Slot]] = []
        self._sequence = count()
        self._ready: deque[_Slot] = deque()  # due, waiting for a free slot
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._prober: ConnectProber | None = None
        self._start_soon = False
        self._stopping = False

    # --- targets -------------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Make the set of targets exactly `targets`: new ones are added, missing ones
        removed, changed ones (spec or interval) re-checked soon; unchanged ones keep
        their rhythm, so the worker can call this every time it reads the database."""
        wanted = {target.id: target for target in targets}
        for target_id in [known for known in self._slots if known not in wanted]:
            self.remove(target_id)
        for target in wanted.values():
            self.add(target)

    def add(self, target: Target) -> None:
        if not target.interval > 0:
            raise ValueError(f"interval must be above 0 s, not {target.interval!r}")
        slot = self._slots.get(target.id)
        now = time.monotonic()
        if slot is None:
            slot = self._slots[target.id] = _Slot(target, probe=self._probes(target))
            offset = random.uniform(0, target.interval) if self.spread else 0.0
            self._schedule(slot, now + offset)
        elif slot.target != target:
            slot.target = target
            slot.probe = self._probes(target)
            if slot.in_flight:
                slot.changed_in_flight = True
            else:
                self._schedule(slot, now)
        self.stats.targets = len(self._slots)

    def remove(self, target_id: Hashable) -> None:
        slot = self._slots.pop(target_id, None)
        if slot is not None:
            slot.removed = True
            slot.token += 1
        self.stats.targets = len(self._slots)

    def __contains__(self, target_id: Hashable) -> bool:
        return target_id in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def _probes(self, target: Target) -> bool:
        return self.fast_tcp and can_probe(target.spec)

    # --- running -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask run() to return; checks still in flight are abandoned (no results)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Check targets until stop(). May be called again after it returns."""
        self._stopping = False
        self._requeue_all()
        self._prober = ConnectProber(self._probe_done)
        try:
            while not self._stopping:
                self._start_due(time.monotonic())
                self._wake.clear()
                next_due = self._heap[0][0] if self._heap else None
                try:
                    async with asyncio.timeout_at(next_due):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            self._prober.close()
            self._prober = None
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self.stats.in_flight = 0

    def _requeue_all(self) -> None:
        """Rebuild the queue from the targets, so checks abandoned by an earlier stop()
        run again (each at its last due time, which has passed: at once)."""
        self._heap.clear()
        self._ready.clear()
        for slot in self._slots.values():
            slot.in_flight = slot.changed_in_flight = False
            self._schedule(slot, slot.due)

    def _schedule(self, slot: _Slot, due: float) -> None:
        slot.token += 1
        slot.due = due
        earliest = not self._heap or due < self._heap[0][0]
        heappush(self._heap, (due, next(self._sequence), slot.token, slot))
        if earliest:
            self._wake.set()  # run() is sleeping until a later due time

    def _start_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now + COALESCE_SECONDS:
            _, _, token, slot = heappop(heap)
            if token != slot.token or slot.removed:
                continue  # superseded by a later _schedule, or removed
            slot.in_flight = True
            self._ready.append(slot)
        self._start_ready()

    def _start_ready(self) -> None:
        """Start waiting checks while there are free slots. Checks wait here, as slots
        rather than tasks, so a backlog costs nothing until it can run."""
        self._start_soon = False
        while self._ready and self.stats.in_flight < self.concurrency and not self._stopping:
            slot = self._ready.popleft()
            if slot.removed:
                slot.in_flight = False
                continue
            slot.changed_in_flight = False  # it starts with the latest target anyway
            self.stats.started += 1
            self.stats.in_flight += 1
            lag_ms = (time.monotonic() - slot.due) * 1000.0
            if lag_ms > self.stats.max_start_lag_ms:
                self.stats.max_start_lag_ms = lag_ms
            target = slot.target
            if slot.probe and self._prober is not None:
                self._prober.start((slot, target), target.spec)
            else:
                self._track(self._check(slot, target))

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, slot: _Slot, target: Target) -> None:
        try:
            result = await run_check(target.spec)
        finally:
            self._free(slot)
        pending = self._deliver(slot, target, result)
        if pending is not None:
            await self._await_callback(pending, target.id)

    def _probe_done(self, key: tuple[_Slot, Target], result: CheckResult) -> None:
        slot, target = key
        self._free(slot)
        pending = self._deliver(slot, target, result)
        if pending is not None:
            self._track(self._await_callback(pending, target.id))

    def _free(self, slot: _Slot) -> None:
        """A check ended: its slot is free. Waiting checks start from the loop, not from
        here, so a run of instant failures cannot recurse."""
        slot.in_flight = False
        self.stats.in_flight -= 1
        if self._ready and not self._start_soon and not self._stopping:
            self._start_soon = True
            asyncio.get_running_loop().call_soon(self._start_ready)

    def _deliver(self, slot: _Slot, target: Target, result: CheckResult) -> Awaitable[Any] | None:
        """Schedule the next check, then hand the result over; returns what an async
        callback still has to finish."""
        self.stats.completed += 1
        if slot.removed:
            return None
        # Schedule before calling back, so a slow callback cannot slow the checks.
        now = time.monotonic()
        if slot.changed_in_flight:
            slot.changed_in_flight = False
            self._schedule(slot, now)
        else:
            self._schedule(slot, max(slot.due + target.interval, now))
        try:
            outcome = self.callback(target.id, result)
        except Exception:
            self._callback_failed(target.id)
            return None
        return outcome if inspect.isawaitable(outcome) else None

    async def _await_callback(self, pending: Awaitable[Any], target_id: Hashable) -> None:
        try:
            await pending
        except Exception:
            self._callback_failed(target_id)

    def _callback_failed(self, target_id: Hashable) -> None:
        self.stats.callback_errors += 1
        log.exception("health-check result callback failed for %r", target_id)
