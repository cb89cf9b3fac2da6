"""Many TCP connect checks at once, for the Scheduler's most common case.

A plain TCP check through run_check costs an asyncio Task, a Future, a timer and a
selector registration per connect; at thousands of checks a second those, not the
kernel, are most of the CPU. Here every pending connect sits in one epoll set of our
own, whose single fd the event loop watches, and the deadlines sit in one heap: per
check, a socket, an epoll registration and a few dict and heap operations.

Results are the same as check_tcp's (same reasons, same RST close); the tests run both.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import itertools
import os
import select
import socket
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .net import _LINGER_ABORT, _numeric_address
from .reasons import describe_error, timed_out
from .spec import CheckResult, CheckSpec


def can_probe(spec: CheckSpec) -> bool:
    """A plain TCP check of an IP literal; others (names, bad ports) go the general way."""
    return (
        spec.check_type == "tcp"
        and spec.timeout > 0
        and 0 < spec.port < 65536
        and _numeric_address(spec.host.strip().strip("[]"), spec.port, socket.SOCK_STREAM) is not None
    )


@dataclass(eq=False, slots=True)
class _Pending:
    key: Hashable
    sock: socket.socket
    timeout: float
    started: float  # perf_counter, for the latency
    deadline: float  # event-loop time


class ConnectProber:
    """Start connects with start(); each ends in on_result(key, CheckResult) exactly
    once: connected, refused (or another error), or timed out. close() abandons the
    pending ones without results."""

    def __init__(self, on_result: Callable[[Hashable, CheckResult], None]) -> None:
        self._on_result = on_result
        self._loop = asyncio.get_running_loop()
        self._epoll = select.epoll()
        self._pending: dict[int, _Pending] = {}  # by fd
        self._deadlines: list[tuple[float, int, int, _Pending]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._loop.add_reader(self._epoll.fileno(), self._on_ready)

    def __len__(self) -> int:
        return len(self._pending)

    def start(self, key: Hashable, spec: CheckSpec) -> None:
        """Begin one connect; the spec must pass can_probe."""
        started = time.perf_counter()
        family, sockaddr = _numeric_address(spec.host.strip().strip("[]"), spec.port, socket.SOCK_STREAM)
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # out of file descriptors, say
            self._finish(key, started, False, describe_error(exc))
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        error = sock.connect_ex(sockaddr)
        if error != errno.EINPROGRESS:
            sock.close()
            reason = describe_error(OSError(error, os.strerror(error))) if error else "connected"
            self._finish(key, started, not error, reason)
            return
        fd = sock.fileno()
        pending = _Pending(key, sock, spec.timeout, started, self._loop.time() + spec.timeout)
        self._pending[fd] = pending
        self._epoll.register(fd, select.EPOLLOUT)
        heapq.heappush(self._deadlines, (pending.deadline, next(self._sequence), fd, pending))
        if self._timer is None or pending.deadline < self._timer.when():
            self._arm(pending.deadline)

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        if self._timer is not None:
            self._timer.cancel()
        for pending in self._pending.values():
            pending.sock.close()
        self._pending.clear()
        self._deadlines.clear()
        self._epoll.close()

    def _on_ready(self) -> None:
        for fd, _ in self._epoll.poll(0):
            pending = self._pending.pop(fd, None)
            if pending is None:
                continue
            self._epoll.unregister(fd)
            error = pending.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            pending.sock.close()
            reason = describe_error(OSError(error, os.strerror(error))) if error else "connected"
            self._finish(pending.key, pending.started, not error, reason)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, fd, pending = heapq.heappop(deadlines)
            if self._pending.get(fd) is not pending:
                continue  # finished already (and the fd maybe reused since)
            del self._pending[fd]
            self._epoll.unregister(fd)
            pending.sock.close()
            self._finish(pending.key, pending.started, False, timed_out(pending.timeout, "connecting"))
        # Drop finished entries from the top so the timer sleeps until a live deadline.
        while deadlines and self._pending.get(deadlines[0][2]) is not deadlines[0][3]:
            heapq.heappop(deadlines)
        if deadlines:
            self._arm(deadlines[0][0])

    def _finish(self, key: Hashable, started: float, ok: bool, reason: str) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        self._on_result(key, CheckResult(ok, latency_ms, reason))
