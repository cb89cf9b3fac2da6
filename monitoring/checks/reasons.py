"""Short, one-line, human reasons for check outcomes.

Operators read these in the real-server list and the audit of health transitions, so they
name the cause ("connection refused") rather than the Python exception class.
"""

from __future__ import annotations

import errno
import socket
import ssl

EXCERPT_CHARS = 60

# errno -> the words an operator expects, where strerror's are vaguer or longer.
_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EPIPE: "connection closed while sending",
    errno.EMFILE: "too many open files (raise the worker's file limit)",
}


def seconds(value: float) -> str:
    """2 -> '2.0', 0.5 -> '0.5', 0.25 -> '0.25' (never rounds a configured value away)."""
    text = f"{value:.1f}"
    return text if float(text) == value else f"{value:g}"


def timed_out(timeout: float, detail: str = "") -> str:
    base = f"timed out after {seconds(timeout)} s"
    return f"{base} {detail}" if detail else base


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace and control characters so a reason never spans lines."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def excerpt(data: bytes | bytearray | str, limit: int = EXCERPT_CHARS) -> str:
    """Quote received data for a reason: 'HTTP/1.1 500', with \\r \\n shown escaped."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", errors="replace")
    shown = data[:limit]
    quoted = repr(shown)
    if quoted.startswith('"'):  # repr chose double quotes because of a ' inside
        quoted = "'" + quoted[1:-1].replace("'", "\\'") + "'"
    return quoted + ("..." if len(data) > limit else "")


def describe_error(exc: BaseException) -> str:
    """One line for an exception met while checking."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return one_line(f"TLS certificate verify failed: {exc.verify_message or exc.reason}")
    if isinstance(exc, ssl.SSLError):
        return one_line(f"TLS error: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return one_line(f"cannot resolve host: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        if exc.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[exc.errno]
        if exc.strerror:
            return one_line(exc.strerror[0].lower() + exc.strerror[1:])
        return one_line(str(exc) or type(exc).__name__)
    return one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def result_line(ok: bool, latency_ms: float, reason: str) -> str:
    """One check result in words, as `manage.py probe` prints it and the pages show it:
    UP|DOWN <milliseconds> <reason>."""
    return f"{'UP' if ok else 'DOWN'} {latency_ms:.1f} {reason}"
