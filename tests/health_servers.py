"""Real servers for the health tests: plain sockets on 127.0.0.1 in a background thread.

    with listener() as port: ...            # accepts TCP connections (the kernel does)
    with listener(hits) as port: ...        # and appends 1 to the list `hits` per connection
    with stalling_server() as port: ...     # accepts and never answers
    with http_server(status=500) as port: ...
    closed_port()                           # nobody listens: connection refused
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.services import free_port


def closed_port() -> int:
    return free_port()


@contextmanager
def _accepting(on_accept: Callable[[socket.socket], None], backlog: int = 1024) -> Iterator[int]:
    """A loopback listener whose thread hands every accepted connection to on_accept."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    stop = threading.Event()

    def accept_loop() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            on_accept(conn)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextmanager
def listener(hits: list | None = None) -> Iterator[int]:
    """A listening socket; connections are accepted and closed at once, so the
    backlog never fills during long tests. `hits` counts them, when given."""

    def accept(conn: socket.socket) -> None:
        conn.close()
        if hits is not None:
            hits.append(1)

    with _accepting(accept) as port:
        yield port


@contextmanager
def stalling_server() -> Iterator[int]:
    """Accepts connections and never sends a byte: a hung application."""
    held: list[socket.socket] = []
    try:
        with _accepting(held.append) as port:
            yield port
    finally:
        for conn in held:
            conn.close()


@contextmanager
def http_server(status: int = 200, body: bytes = b"Welcome to Outlook Web App",
                hits: list | None = None) -> Iterator[int]:
    """Answers every request with `status` and `body`, then closes; `hits` gets each
    request's first line, when given."""
    reply = (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body

    def answer(conn: socket.socket) -> None:
        try:
            conn.settimeout(2)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if hits is not None:
                hits.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()

    with _accepting(answer, backlog=128) as port:
        yield port
