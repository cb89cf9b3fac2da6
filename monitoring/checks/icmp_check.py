"""ICMP echo checks through icmplib."""

from __future__ import annotations

import asyncio
import os

import icmplib

from .reasons import one_line, seconds, timed_out
from .spec import CheckSpec, Outcome

NOT_PERMITTED = (
    "ICMP not permitted: run the checker as root, or allow its group in "
    "net.ipv4.ping_group_range"
)


async def check_icmp(spec: CheckSpec, *, privileged: bool | None = None) -> Outcome:
    """One echo request. Raw (privileged) sockets when running as root; otherwise the
    kernel's unprivileged ICMP sockets, which need net.ipv4.ping_group_range to include
    the process's group (Debian's default "1 0" includes nobody)."""
    if privileged is None:
        privileged = os.geteuid() == 0
    host = spec.host.strip().strip("[]")
    if not host:
        return False, "no host to check"
    try:
        # icmplib's own timeout bounds the wait for the reply; ours also bounds a slow
        # name lookup, with a little room so icmplib reports first.
        async with asyncio.timeout(spec.timeout + 0.5):
            result = await icmplib.async_ping(
                host, count=1, timeout=spec.timeout, privileged=privileged
            )
    except TimeoutError:
        return False, timed_out(spec.timeout)
    except icmplib.SocketPermissionError:
        return False, NOT_PERMITTED
    except icmplib.NameLookupError:
        return False, f"cannot resolve host {host!r}"
    except icmplib.ICMPLibError as exc:
        return False, one_line(f"ICMP error: {exc}")
    except OSError as exc:
        return False, one_line(f"ICMP error: {exc}")
    if result.is_alive:
        return True, f"echo reply in {result.avg_rtt:.2f} ms"
    return False, f"no echo reply within {seconds(spec.timeout)} s"
