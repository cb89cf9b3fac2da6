"""Exceptions of the IPVS engine, each with a message an operator can act on.

Every class derives from IpvsError, so a caller that only wants "it failed, show why"
catches one class. `classify_failure` turns ipvsadm's own error texts (libipvs's
ipvs_strerror table and ipvsadm's fail() calls, as of ipvsadm 1.29-1.31) into these.
"""

from __future__ import annotations

from collections.abc import Sequence


class IpvsError(Exception):
    """Base class: something about IPVS or the way to reach it went wrong."""


class ParseError(IpvsError, ValueError):
    """Text that should have been ipvsadm output (or an ipvsadm rule) was not."""

    def __init__(self, message: str, lineno: int | None = None, line: str | None = None):
        self.reason = message
        self.lineno = lineno
        self.line = line
        where = f"line {lineno}: " if lineno is not None else ""
        shown = f": {line.strip()!r}" if line is not None else ""
        super().__init__(f"{where}{message}{shown}")


class IpvsadmMissing(IpvsError):
    """The ipvsadm program is not installed where we looked for it."""

    def __init__(self, program: str, where: str = "this host"):
        self.program = program
        super().__init__(
            f"ipvsadm was not found on {where} (looked for {program!r}); "
            "install the ipvsadm package or correct the ipvsadm path in the settings"
        )


class NotRoot(IpvsError):
    """ipvsadm ran but lacks CAP_NET_ADMIN: it must run as root."""

    def __init__(self, stderr: str = ""):
        self.stderr = stderr
        super().__init__(
            "ipvsadm was refused by the kernel: it must run as root (CAP_NET_ADMIN); "
            "connect as root or run the worker as root"
            + (f" [{_first_line(stderr)}]" if stderr else "")
        )


class NoKernelSupport(IpvsError):
    """The kernel has no IPVS (ip_vs not built in and not loadable)."""

    def __init__(self, stderr: str = ""):
        self.stderr = stderr
        super().__init__(
            "this kernel has no IP Virtual Server support: load the ip_vs module "
            "(modprobe ip_vs) or use a kernel built with CONFIG_IP_VS"
            + (f" [{_first_line(stderr)}]" if stderr else "")
        )


class SSHRefused(IpvsError):
    """The director could not be reached over SSH (refused, unreachable, not SSH)."""

    def __init__(self, host: str, port: int, reason: str):
        self.host, self.port, self.reason = host, port, reason
        super().__init__(f"cannot reach SSH on {host} port {port}: {reason}")


class HostKeyMismatch(IpvsError):
    """The director presented a host key other than the pinned one."""

    def __init__(self, host: str, port: int, expected: str, got: str):
        self.host, self.port, self.expected, self.got = host, port, expected, got
        super().__init__(
            f"host key of {host} port {port} does not match the pinned key: "
            f"expected {expected}, got {got}. If the director was reinstalled, "
            "an admin must pin the new key explicitly"
        )


class SSHAuthFailed(IpvsError):
    """The director refused our SSH key (or the key could not be loaded)."""

    def __init__(self, host: str, port: int, user: str, reason: str):
        self.host, self.port, self.user, self.reason = host, port, user, reason
        super().__init__(f"SSH login as {user!r} on {host} port {port} failed: {reason}")


class CommandTimeout(IpvsError):
    """ipvsadm did not finish in time (it was killed, or its channel closed)."""

    def __init__(self, argv: Sequence[str], timeout: float):
        self.argv, self.timeout = list(argv), timeout
        super().__init__(f"{_show(argv)} did not finish within {timeout:g} s")


class CommandFailed(IpvsError):
    """ipvsadm ran and reported an error (exit status and its stderr kept)."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str):
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr
        detail = stderr.strip() or "no error text"
        super().__init__(f"{_show(argv)} failed with exit status {returncode}: {detail}")


# Texts ipvsadm prints, from libipvs's ipvs_strerror() and ipvsadm.c's fail() calls.
_NOT_ROOT_TEXTS = ("Permission denied", "must be root", "Operation not permitted")
_NO_KERNEL_TEXTS = ("Can't initialize ipvs", "Protocol not available",
                    "Module ip_vs not found")
# A shell says these when the program is missing (exit status 127).
_MISSING_TEXTS = ("command not found", "No such file or directory", ": not found")


def classify_failure(argv: Sequence[str], returncode: int, stderr: str,
                     where: str = "this host") -> IpvsError:
    """The exception that best explains a failed ipvsadm run.

    Root is checked before kernel support: a non-root ipvsadm says
    "Can't initialize ipvs: Permission denied (you must be root)".
    """
    if any(text in stderr for text in _NOT_ROOT_TEXTS):
        return NotRoot(stderr)
    if any(text in stderr for text in _NO_KERNEL_TEXTS):
        return NoKernelSupport(stderr)
    if returncode == 127 and (not stderr or any(t in stderr for t in _MISSING_TEXTS)):
        return IpvsadmMissing(argv[0] if argv else "ipvsadm", where)
    return CommandFailed(argv, returncode, stderr)


def _first_line(text: str) -> str:
    """The line of stderr worth showing: ipvsadm's own diagnosis before modprobe's noise."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Can't initialize ipvs"):
            return line
    return lines[0] if lines else ""


def _show(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) <= 120 else text[:117] + "..."
