"""Many TCP connect checks (and plain HTTP checks) at once, for the Scheduler's most
common cases.

A plain TCP check through run_check costs an asyncio Task, a Future, a timer and a
selector registration per connect; at thousands of checks a second those, not the
kernel, are most of the CPU. Here every pending connect sits in one epoll set of our
own, whose single fd the event loop watches, and the deadlines sit in one FIFO per
timeout (connects with the same timeout expire in the order they started, so a deque
is already sorted).

Sockets are reused: once a check has its answer (a connect connected or refused, an
HTTP exchange judged), connect() to an AF_UNSPEC address resets the socket (the kernel's tcp_disconnect: an RST to a server
that accepted, as closing with SO_LINGER 0 sends) and it waits, still in the epoll set
but disarmed (EPOLLONESHOT), for the next check. Per check then: three system calls
(connect, epoll_ctl to re-arm, the disconnect) where a new socket took five (socket,
setsockopt, connect, epoll_ctl, close), and the kernel allocates and frees no socket,
file or descriptor: measured, 5 us of the 30 a check cost. Every event is one-shot, so
an HTTP exchange re-arms its socket after each step that does not end it. At most as many sockets as
checks were ever in flight at once are kept (the Scheduler bounds that). A timed-out or
failed socket is closed, never reused. Where libc's connect cannot be reached (not
Linux), every check has a new socket, as before.

Results are the same as check_tcp's (same reasons, same RST close); the tests run both.

A plain HTTP check of an IP literal (no TLS) is the same connect followed by one
request and a read, on the same epoll set (an exchange): the response is judged by
http_check.judge_buffered, with check_http's reasons; tests/test_checks_http.py runs
each of its cases both ways.
"""

from __future__ import annotations

import _socket
import asyncio
import ctypes
import errno
import logging
import os
import re
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Hashable

from .http_check import build_request, judge_buffered
from .matching import compiled_regex, parse_status_codes
from .net import _LINGER_ABORT, _numeric_address
from .reasons import describe_error, one_line, timed_out
from .spec import CheckResult, CheckSpec

log = logging.getLogger(__name__)

_NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
# Bound once: start_to runs thousands of times a second, and module attribute lookups
# there were a measurable part of a check's own cost.
_SOL_SOCKET, _SO_LINGER, _EINPROGRESS = socket.SOL_SOCKET, socket.SO_LINGER, errno.EINPROGRESS
_new_socket = _socket.socket
# One event, then disarmed until re-armed: a socket between checks stays in the epoll
# set silent (a reset socket is always "ready": EPOLLOUT | EPOLLHUP).
_ARMED = select.EPOLLOUT | select.EPOLLONESHOT
_ARMED_TO_READ = select.EPOLLIN | select.EPOLLONESHOT
_SPARE_LIMIT = 4096  # per address family; the Scheduler has at most 512 checks in flight


def _libc_disconnect():
    """libc's connect(), for connect(fd, AF_UNSPEC): Python's socket.connect takes only
    addresses of the socket's own family. None where it is not there (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).connect
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    return function


_disconnect = _libc_disconnect()
# A struct sockaddr whose sa_family is AF_UNSPEC (0): "dissolve the association".
_UNSPEC_ADDRESS = ctypes.create_string_buffer(16)
_clock = time.perf_counter  # one clock for latencies and deadlines: one call per check
_FAILED = select.EPOLLERR | select.EPOLLHUP
_CONNECTED = "connected"


def can_probe(spec: CheckSpec) -> bool:
    """A plain TCP or plain HTTP check of an IP literal; others (names, TLS, bad ports)
    go the general way, through run_check."""
    return probe_address(spec) is not None


def probe_address(spec: CheckSpec) -> tuple[int, tuple] | None:
    """(family, sockaddr) when the ConnectProber can run `spec`, else None: a plain TCP
    check, or a plain HTTP one whose request can be built (see http_exchange)."""
    if spec.check_type not in ("tcp", "http") or not spec.timeout > 0 or not 0 < spec.port < 65536:
        return None
    if spec.check_type == "http" and http_exchange(spec) is None:
        return None  # check_http says what is wrong with it, as before
    return _numeric_address(spec.host.strip().strip("[]"), spec.port, socket.SOCK_STREAM)


def http_exchange(spec: CheckSpec) -> tuple[bytes, tuple[tuple[int, int], ...]] | None:
    """(request, accepted statuses) for a plain HTTP spec that check_http would send;
    None for anything else, or a spec it would refuse before connecting."""
    if spec.check_type != "http":
        return None
    try:
        ranges = parse_status_codes(spec.http_status or "200-399")
        request = build_request(spec, tls=False)
        if spec.use_regex and spec.http_body:
            compiled_regex(spec.http_body)
    except (ValueError, re.error):
        return None
    return request, ranges


class _Exchange:
    """A pending HTTP check: connecting, then sending, then reading the response."""

    __slots__ = ("key", "sock", "timeout", "started", "spec", "ranges", "request", "received", "phase")

    def __init__(self, key: Hashable, sock: object, timeout: float, started: float, spec: CheckSpec,
                 exchange: tuple[bytes, tuple[tuple[int, int], ...]]) -> None:
        self.key, self.sock, self.timeout, self.started, self.spec = key, sock, timeout, started, spec
        self.request, self.ranges = exchange
        self.received = b""
        self.phase = "connecting"


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
        # by timeout: (deadline in _clock, fd, the pending entry), oldest first
        self._deadlines: dict[float, deque[tuple[float, int, tuple]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._register, self._rearm = self._epoll.register, self._epoll.modify
        # by address family: reset sockets, still in the epoll set (disarmed), for reuse
        self._spare: dict[int, list] = {_socket.AF_INET: [], _socket.AF_INET6: []}
        self._loop.add_reader(self._epoll.fileno(), self._on_ready)

    def __len__(self) -> int:
        return len(self._pending)

    def start(self, key: Hashable, spec: CheckSpec) -> None:
        """Begin one check; the spec must pass can_probe."""
        family, sockaddr = probe_address(spec)  # type: ignore[misc]
        exchange = http_exchange(spec)
        self.start_to(key, family, sockaddr, spec.timeout, (spec, exchange) if exchange else None)

    def start_to(self, key: Hashable, family: int, sockaddr: tuple, timeout: float,
                 http: tuple[CheckSpec, tuple[bytes, tuple[tuple[int, int], ...]]] | None = None) -> None:
        """Begin one connect to an address probe_address() gave; with `http` (the spec
        and its http_exchange()), an HTTP check over it."""
        started = _clock()
        spare = self._spare.get(family)
        if spare:
            sock = spare.pop()
            error = sock.connect_ex(sockaddr)
            arm = self._rearm
        else:
            try:
                # The C type without socket.py's wrapper, non-blocking from birth: less per check.
                sock = _new_socket(family, _NONBLOCKING_STREAM)
            except OSError as exc:  # out of file descriptors, say
                self._finish(key, started, False, describe_error(exc))
                return
            sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_ABORT)
            error = sock.connect_ex(sockaddr)
            arm = self._register
        if error != _EINPROGRESS and (error or http is None):
            sock.close()
            reason = describe_error(OSError(error, os.strerror(error))) if error else _CONNECTED
            self._finish(key, started, not error, reason)
            return
        fd = sock.fileno()
        pending = (key, sock, timeout, started) if http is None else _Exchange(key, sock, timeout, started, *http)
        arm(fd, _ARMED)
        self._pending[fd] = pending
        deadline = started + timeout
        queue = self._deadlines.get(timeout)
        if queue is None:
            queue = self._deadlines[timeout] = deque()
        queue.append((deadline, fd, pending))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def _recycle(self, sock) -> None:
        """Reset a socket whose one-shot event was delivered and keep it for the next
        check; close it if it cannot be reset or enough are kept."""
        spare = self._spare.get(sock.family)
        if (_disconnect is not None and spare is not None and len(spare) < _SPARE_LIMIT
                and _disconnect(sock.fileno(), _UNSPEC_ADDRESS, 16) == 0):
            spare.append(sock)
        else:
            sock.close()

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        if self._timer is not None:
            self._timer.cancel()
        for pending in self._pending.values():
            (pending[1] if type(pending) is tuple else pending.sock).close()
        self._pending.clear()
        for spare in self._spare.values():
            for sock in spare:
                sock.close()
            spare.clear()
        self._deadlines.clear()
        self._epoll.close()

    def _on_ready(self) -> None:
        pending_by_fd = self._pending
        for fd, events in self._epoll.poll(0):
            pending = pending_by_fd.get(fd)
            if pending is None:
                continue
            if type(pending) is not tuple:
                self._exchange_ready(fd, events, pending)
                continue
            del pending_by_fd[fd]
            key, sock, _, started = pending
            # EPOLLOUT alone: connected (a pending error would have raised EPOLLERR).
            # Otherwise SO_ERROR says why; 0 there means it connected and then the
            # server closed, which is still a successful connect.
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if events & _FAILED else 0
            self._recycle(sock)
            if error:
                self._finish(key, started, False, describe_error(OSError(error, os.strerror(error))))
            else:
                self._on_result(key, CheckResult(True, round((_clock() - started) * 1000.0, 3), _CONNECTED))

    def _exchange_ready(self, fd: int, events: int, exchange: _Exchange) -> None:
        """One step of an HTTP check: connected (send the request), or data to read.
        Every step ends the exchange or re-arms its socket for the next event."""
        sock = exchange.sock
        try:
            if exchange.phase == "connecting":
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if events & _FAILED else 0
                if error:
                    self._end_exchange(fd, exchange, False, describe_error(OSError(error, os.strerror(error))))
                    return
                exchange.phase = "waiting for the response"
                sock.send(exchange.request)  # a few hundred bytes into an empty buffer: all of it
                self._rearm(fd, _ARMED_TO_READ)
                return
            chunk = sock.recv(65536)
            received = exchange.received = exchange.received + chunk if exchange.received else chunk
            outcome, exchange.phase = judge_buffered(exchange.spec, exchange.ranges, received, not chunk)
        except BlockingIOError:
            self._rearm(fd, _ARMED_TO_READ)  # nothing to read after all: wait again
            return
        except OSError as exc:
            self._end_exchange(fd, exchange, False, describe_error(exc))
            return
        except Exception as exc:  # a bug must not stop the checker; it shows as a reason
            log.exception("HTTP check crashed")
            self._end_exchange(fd, exchange, False, f"check failed: {describe_error(exc)}", reuse=False)
            return
        if outcome is None:
            self._rearm(fd, _ARMED_TO_READ)
        else:
            self._end_exchange(fd, exchange, *outcome)

    def _end_exchange(self, fd: int, exchange: _Exchange, ok: bool, reason: str, reuse: bool = True) -> None:
        """The exchange's last event was delivered (its socket is disarmed): reset the
        socket for the next check, or close it after a crash."""
        del self._pending[fd]
        if reuse:
            self._recycle(exchange.sock)
        else:
            exchange.sock.close()
        self._finish(exchange.key, exchange.started, ok, one_line(reason))

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_later(max(0.0, when - _clock()), self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = _clock()
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
                if type(pending) is tuple:
                    pending[1].close()
                    self._finish(pending[0], pending[3], False, timed_out(pending[2], "connecting"))
                else:
                    pending.sock.close()
                    self._finish(pending.key, pending.started, False, timed_out(pending.timeout, pending.phase))
            if queue and (earliest is None or queue[0][0] < earliest):
                earliest = queue[0][0]
        if earliest is not None:
            self._arm(earliest)

    def _finish(self, key: Hashable, started: float, ok: bool, reason: str) -> None:
        latency_ms = round((_clock() - started) * 1000.0, 3)
        self._on_result(key, CheckResult(ok, latency_ms, reason))
