"""Many TCP connect checks at once, for the Scheduler's most common case.

A plain TCP check through run_check costs an asyncio Task, a Future, a timer and a
selector registration per connect; at thousands of checks a second those, not the
kernel, are most of the CPU. Here every pending connect sits in one epoll set of our
own, whose single fd the event loop watches, and the deadlines sit in one FIFO per
timeout (connects with the same timeout expire in the order they started, so a deque
is already sorted). Per check: four system calls (socket, setsockopt, connect,
epoll_ctl; close removes the fd from the epoll set) and a few dict and deque operations.

Results are the same as check_tcp's (same reasons, same RST close); the tests run both.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import select
import socket
import time
from collections import deque
from collections.abc import Callable, Hashable

from .net import _LINGER_ABORT, _numeric_address
from .reasons import describe_error, timed_out
from .spec import CheckResult, CheckSpec

_NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_FAILED = select.EPOLLERR | select.EPOLLHUP
_CONNECTED = "connected"


def can_probe(spec: CheckSpec) -> bool:
    """A plain TCP check of an IP literal; others (names, bad ports) go the general way."""
    return probe_address(spec) is not None


def probe_address(spec: CheckSpec) -> tuple[int, tuple] | None:
    """(family, sockaddr) when the ConnectProber can run `spec`, else None."""
    if spec.check_type != "tcp" or not spec.timeout > 0 or not 0 < spec.port < 65536:
        return None
    return _numeric_address(spec.host.strip().strip("[]"), spec.port, socket.SOCK_STREAM)


class ConnectProber:
    """Start connects with start(); each ends in on_result(key, CheckResult) exactly
    once: connected, refused (or another error), or timed out. close() abandons the
    pending ones without results."""

    def __init__(self, on_result: Callable[[Hashable, CheckResult], None]) -> None:
        self._on_result = on_result
        self._loop = asyncio.get_running_loop()
        self._epoll = select.epoll()
        # by fd: (key, socket, timeout, perf_counter at start)
        self._pending: dict[int, tuple[Hashable, object, float, float]] = {}
        # by timeout: (deadline in time.monotonic, fd, the pending entry), oldest first
        self._deadlines: dict[float, deque[tuple[float, int, tuple]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._loop.add_reader(self._epoll.fileno(), self._on_ready)

    def __len__(self) -> int:
        return len(self._pending)

    def start(self, key: Hashable, spec: CheckSpec) -> None:
        """Begin one connect; the spec must pass can_probe."""
        family, sockaddr = probe_address(spec)  # type: ignore[misc]
        self.start_to(key, family, sockaddr, spec.timeout)

    def start_to(self, key: Hashable, family: int, sockaddr: tuple, timeout: float) -> None:
        """Begin one connect to an address probe_address() gave."""
        started = time.perf_counter()
        try:
            # The C type without socket.py's wrapper, non-blocking from birth: less per check.
            sock = _socket.socket(family, _NONBLOCKING_STREAM)
        except OSError as exc:  # out of file descriptors, say
            self._finish(key, started, False, describe_error(exc))
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        error = sock.connect_ex(sockaddr)
        if error != errno.EINPROGRESS:
            sock.close()
            reason = describe_error(OSError(error, os.strerror(error))) if error else _CONNECTED
            self._finish(key, started, not error, reason)
            return
        fd = sock.fileno()
        pending = (key, sock, timeout, started)
        self._pending[fd] = pending
        self._epoll.register(fd, select.EPOLLOUT)
        deadline = time.monotonic() + timeout
        queue = self._deadlines.get(timeout)
        if queue is None:
            queue = self._deadlines[timeout] = deque()
        queue.append((deadline, fd, pending))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        if self._timer is not None:
            self._timer.cancel()
        for pending in self._pending.values():
            pending[1].close()
        self._pending.clear()
        self._deadlines.clear()
        self._epoll.close()

    def _on_ready(self) -> None:
        pending_by_fd = self._pending
        for fd, events in self._epoll.poll(0):
            pending = pending_by_fd.pop(fd, None)
            if pending is None:
                continue
            key, sock, _, started = pending
            # EPOLLOUT alone: connected (a pending error would have raised EPOLLERR).
            # Otherwise SO_ERROR says why; 0 there means it connected and then the
            # server closed, which is still a successful connect.
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if events & _FAILED else 0
            sock.close()  # also leaves the epoll set: this was the fd's only reference
            if error:
                self._finish(key, started, False, describe_error(OSError(error, os.strerror(error))))
            else:
                self._on_result(key, CheckResult(True, round((time.perf_counter() - started) * 1000.0, 3), _CONNECTED))

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_later(max(0.0, when - time.monotonic()), self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = time.monotonic()
        pending_by_fd = self._pending
        earliest = None
        for queue in self._deadlines.values():
            while queue:
                deadline, fd, pending = queue[0]
                if pending_by_fd.get(fd) is not pending:
                    queue.popleft()  # finished already (and the fd maybe reused since)
                    continue
                if deadline > now:
                    break
                queue.popleft()
                del pending_by_fd[fd]
                pending[1].close()
                self._finish(pending[0], pending[3], False, timed_out(pending[2], "connecting"))
            if queue and (earliest is None or queue[0][0] < earliest):
                earliest = queue[0][0]
        if earliest is not None:
            self._arm(earliest)

    def _finish(self, key: Hashable, started: float, ok: bool, reason: str) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        self._on_result(key, CheckResult(ok, latency_ms, reason))
