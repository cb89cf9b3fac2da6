"""Real receivers for alert tests: an HTTP server in a thread that keeps every POST (and
can answer 500 to the first few), and aiosmtpd, a real SMTP server, keeping every mail."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


@dataclass
class Received:
    body: bytes
    headers: dict

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    port: int
    posts: list[Received] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests before succeeding
    seen: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(0, fail_first=fail_first)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.seen += 1
                failing = receiver.seen <= receiver.fail_first
                if not failing:
                    receiver.posts.append(Received(body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_server() -> Iterator[tuple[int, list]]:
    """aiosmtpd on a free loopback port: (port, mails), each mail its envelope."""
    import socket

    from aiosmtpd.controller import Controller

    mails: list = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 Message accepted for delivery"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mails
    finally:
        controller.stop()
