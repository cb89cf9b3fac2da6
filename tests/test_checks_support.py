"""Real servers on loopback for the health-check tests (no tests here, only helpers).

The servers run on their own event loop in a background thread, so the checker under
test (driven by asyncio.run in the test's thread) cannot starve them, and a stalled
server is stalled for real.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitoring.checks import CheckResult, CheckSpec, run_check

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def check(spec: CheckSpec) -> CheckResult:
    return asyncio.run(run_check(spec))


class ServerLoop:
    """An asyncio loop in a daemon thread, for servers the tests start and stop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []

    def call(self, coro: Awaitable):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def tcp(self, handler: Handler, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> int:
        """Start a stream server; returns its port."""

        async def start() -> asyncio.AbstractServer:
            return await asyncio.start_server(_guarded(handler), host, 0, ssl=tls, backlog=1024)

        server = self.call(start())
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    def udp(self, protocol_factory: Callable[[], asyncio.DatagramProtocol], host: str = "127.0.0.1") -> int:
        async def start() -> asyncio.BaseTransport:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                protocol_factory, local_addr=(host, 0)
            )
            return transport

        transport = self.call(start())
        self._transports.append(transport)
        return transport.get_extra_info("sockname")[1]

    def close_all(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            for transport in self._transports:
                transport.close()
            for task in list(_HANDLER_TASKS):
                task.cancel()
            await asyncio.sleep(0)

        self.call(close())
        self._servers.clear()
        self._transports.clear()


_HANDLER_TASKS: set[asyncio.Task] = set()


def _guarded(handler: Handler) -> Handler:
    """Clients of these servers abort (RST) their connections; that is not a failure.
    Handler tasks are remembered so close_all can end the stalled ones."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        _HANDLER_TASKS.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ssl.SSLError):
            pass
        finally:
            _HANDLER_TASKS.discard(task)
            writer.transport.abort()

    return run


@pytest.fixture(scope="session")
def servers_session() -> Iterator[ServerLoop]:
    loop = ServerLoop()
    yield loop
    loop.loop.call_soon_threadsafe(loop.loop.stop)


@pytest.fixture
def servers(servers_session: ServerLoop) -> Iterator[ServerLoop]:
    yield servers_session
    servers_session.close_all()


def closed_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on (bound once by us, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- plain TCP behaviours ---------------------------------------------------------


async def accept_and_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read whatever comes, never answer."""
    while await reader.read(65536):
        pass
    await asyncio.sleep(3600)


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def banner(text: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        await reader.read()

    return handler


def reply_after_line(reply: bytes) -> Handler:
    """Read one request (up to a blank line, or one line), then answer."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(reply)
        await writer.drain()
        await reader.read()

    return handler


def in_pieces(pieces: list[bytes], pause: float) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause)
        await reader.read()

    return handler


# --- HTTP ----------------------------------------------------------------------------


@dataclass
class HttpReply:
    status: int = 200
    body: bytes = b"ok"
    chunked: bool = False
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


def http_server(route: Callable[[SeenRequest], HttpReply], seen: list[SeenRequest] | None = None) -> Handler:
    """A minimal HTTP/1.x responder: routes a request to a reply and records it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        request = SeenRequest(method, path, headers)
        if seen is not None:
            seen.append(request)
        reply = route(request)
        out = [f"HTTP/1.1 {reply.status} Whatever", "Server: test"]
        out += [f"{name}: {value}" for name, value in reply.headers]
        if reply.chunked:
            out.append("Transfer-Encoding: chunked")
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(reply.body[i : i + 7]), reply.body[i : i + 7])
                for i in range(0, len(reply.body), 7)
            ) + b"0\r\n\r\n"
        else:
            out.append(f"Content-Length: {len(reply.body)}")
            body = reply.body
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body))
        await writer.drain()
        await reader.read()

    return handler


OWA_PAGE = b"<html><title>Outlook Web App</title><form action='/owa/auth.owa'></form></html>"


def owa_route(healthy: bool) -> Callable[[SeenRequest], HttpReply]:
    """Exchange CAS as in the seed article: /owa shows the Outlook sign-in form, unless
    its app pool is broken (IIS still accepts TCP and answers 503)."""

    def route(request: SeenRequest) -> HttpReply:
        if not request.path.startswith("/owa"):
            return HttpReply(404, b"not found")
        return HttpReply(200, OWA_PAGE) if healthy else HttpReply(503, b"Service Unavailable")

    return route


@dataclass
class Certificate:
    cert_path: Path
    key_path: Path

    def server_context(self, seen_sni: list[str | None] | None = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        if seen_sni is not None:
            context.sni_callback = lambda sslobj, name, ctx: seen_sni.append(name)
        return context


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 'localhost', 127.0.0.1 and ::1, made now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


# --- UDP and DNS ---------------------------------------------------------------------


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.transport.sendto(b"echo:" + data, addr)


class UdpSilent(asyncio.DatagramProtocol):
    """Receives and never answers (a UDP service that ignores unknown requests)."""


class TinyDns(asyncio.DatagramProtocol):
    """Answers from a dict {(name, type): [rdata text, ...]}; NXDOMAIN otherwise.
    CNAMEs in the dict are followed inside one response, as real servers do."""

    def __init__(self, zone: dict[tuple[str, str], list[str]]) -> None:
        self.zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        while (name, "CNAME") in self.zone and rdtype != "CNAME":
            target = self.zone[(name, "CNAME")][0]
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target))
            name = target
        if (name, rdtype) in self.zone:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, self.zone[(name, rdtype)]))
        elif not response.answer and not any(known == name for known, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)  # else NOERROR with no data
        self.transport.sendto(response.to_wire(), addr)


# --- programs ------------------------------------------------------------------------


def write_script(folder: Path, name: str, body: str) -> Path:
    """An executable Python script run by this interpreter (no shell involved)."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


# The seed article's /usr/local/bin/lvs_check_owa, minus wget: fetch https://HOST:PORT/owa
# without certificate verification and print OK when the page mentions "utlook".
LVS_CHECK_OWA = r"""
import ssl, sys, urllib.request
host, port = sys.argv[1], sys.argv[2]
if ":" in host:
    host = "[" + host + "]"
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),
)
try:
    page = opener.open(f"https://{host}:{port}/owa", timeout=10).read().decode("utf-8", "replace")
except Exception:
    page = ""
print("OK" if "utlook" in page else "FAILURE")
sys.exit(0)
"""


def process_gone(pid: int) -> bool:
    """True when pid no longer runs (gone, or a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def ping_group_allows_us() -> bool:
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    return any(low <= gid <= high for gid in {os.getegid(), *os.getgroups()})


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener that never accepts, with its accept
    queue already full, so the kernel drops new connection attempts (a host that is
    up but overwhelmed, or firewalled with DROP)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # listen(0) still queues one or two; fill whatever it allows
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()
