"""Real servers for the health tests: plain sockets on 127.0.0.1 in a background thread.

    with listener() as port: ...            # accepts TCP connections (the kernel does)
    with stalling_server() as port: ...     # accepts and never answers
    with http_server(status=500) as port: ...
    closed_port()                           # nobody listens: connection refused
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.services import free_port


def closed_port() -> int:
    return free_port()


@contextmanager
def listener() -> Iterator[int]:
    """A listening socket; the kernel completes connects into its backlog."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    stop = threading.Event()

    def drain() -> None:  # keep the backlog from filling during long tests
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextmanager
def stalling_server() -> Iterator[int]:
    """Accepts connections and never sends a byte: a hung application."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


@contextmanager
def http_server(status: int = 200, body: bytes = b"Welcome to Outlook Web App") -> Iterator[int]:
    """Answers every request with `status` and `body`, then closes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    stop = threading.Event()
    reply = (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(reply)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()
