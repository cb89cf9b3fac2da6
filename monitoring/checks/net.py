"""Sockets for checks: resolve, connect, and close without leaving TIME_WAIT behind.

This is the hot path of the plainest and most numerous check (a TCP connect, thousands
every few seconds), so it avoids per-call work that asyncio's general helpers do:
no thread-pool lookup for IP literals, and no asyncio.timeout context per connect
(one timer on the connect's own future does the same job for less).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import struct

# SO_LINGER {on, 0 s}: close() sends RST instead of FIN. A director checking thousands of
# real servers every few seconds would otherwise pile up TIME_WAIT sockets and run out of
# ephemeral ports; HAProxy closes its check connections the same way.
_LINGER_ABORT = struct.pack("ii", 1, 0)


class CheckInputError(ValueError):
    """The spec cannot be run as given (no host, bad port, ...): a DOWN with this text."""


@functools.lru_cache(maxsize=65536)
def _numeric_address(host: str, port: int, socktype: int) -> tuple[int, tuple] | None:
    """(family, sockaddr) for an IP literal, None for a name. Cached: an IP literal's
    answer never changes, and thousands of checks ask again every few seconds."""
    try:
        infos = socket.getaddrinfo(host, port, type=socktype, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


async def resolve(host: str, port: int, socktype: int) -> tuple[int, tuple]:
    """(family, sockaddr) for host:port; names go through the loop's resolver."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise CheckInputError("no host to check")
    if not 0 < port < 65536:
        raise CheckInputError(f"port {port} is not 1-65535")
    numeric = _numeric_address(host, port, socktype)
    if numeric is not None:
        return numeric
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socktype)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


async def connect(
    host: str, port: int, socktype: int = socket.SOCK_STREAM, *, deadline: float | None = None
) -> socket.socket:
    """A connected non-blocking socket; the caller closes it (abort, or a transport).

    `deadline` (event-loop time) bounds the whole call, raising TimeoutError; without
    it the caller bounds it (asyncio.timeout around this and what follows)."""
    loop = asyncio.get_running_loop()
    if deadline is None:
        family, sockaddr = await resolve(host, port, socktype)
    else:
        numeric = _numeric_address(host, port, socktype) if 0 < port < 65536 else None
        if numeric is not None:
            family, sockaddr = numeric
        else:
            async with asyncio.timeout_at(deadline):  # a name lookup can take time
                family, sockaddr = await resolve(host, port, socktype)
    sock = socket.socket(family, socktype)
    try:
        sock.setblocking(False)
        if socktype == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Set now, so every close of a check connection is an abort, including the
            # one a TLS transport does when it owns the socket.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        error = sock.connect_ex(sockaddr)
        if error == errno.EINPROGRESS:
            await _writable(loop, sock.fileno(), deadline)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
    except BaseException:
        sock.close()
        raise
    return sock


async def _writable(loop: asyncio.AbstractEventLoop, fd: int, deadline: float | None) -> None:
    waiter = loop.create_future()
    loop.add_writer(fd, _set_done, waiter)
    timer = loop.call_at(deadline, _set_timed_out, waiter) if deadline is not None else None
    try:
        await waiter
    finally:
        loop.remove_writer(fd)
        if timer is not None:
            timer.cancel()


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _set_timed_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def abort(sock: socket.socket) -> None:
    """Close at once: connect() set SO_LINGER, so TCP sends RST and keeps no TIME_WAIT."""
    sock.close()
