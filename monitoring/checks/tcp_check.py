"""TCP checks: a plain connect (Piranha's blank send / blank expect) and send/expect."""

from __future__ import annotations

import asyncio
import re

from . import net
from .matching import MAX_REPLY_BYTES, ExpectMatcher, decode_escapes, judge_reply
from .reasons import describe_error, timed_out
from .spec import CheckSpec, Outcome


async def check_tcp(spec: CheckSpec) -> Outcome:
    deadline = asyncio.get_running_loop().time() + spec.timeout
    try:
        sock = await net.connect(spec.host, spec.port, deadline=deadline)
    except TimeoutError:
        return False, timed_out(spec.timeout, "connecting")
    except OSError as exc:
        return False, describe_error(exc)
    net.abort(sock)
    return True, "connected"


async def check_send_expect(spec: CheckSpec) -> Outcome:
    """Connect, send `send` (if any), then read until expect matches, cannot match any
    more, the server closes, or the timeout: never a single read (nanny's bug, which
    failed servers that sent their banner in two packets)."""
    try:
        matcher = ExpectMatcher(spec.expect, spec.use_regex)
    except re.error as exc:
        return False, f"bad expect regex: {exc}"
    payload = decode_escapes(spec.send).encode()
    loop = asyncio.get_running_loop()
    received = bytearray()
    phase = "connecting"
    sock = None
    try:
        async with asyncio.timeout(spec.timeout):
            sock = await net.connect(spec.host, spec.port)
            if payload:
                phase = "sending"
                await loop.sock_sendall(sock, payload)
            if not spec.expect:
                return True, "connected and sent" if payload else "connected"
            phase = "waiting for reply"
            while True:
                chunk = await loop.sock_recv(sock, MAX_REPLY_BYTES)
                if not chunk:
                    return False, _closed_early(matcher, received)
                received += chunk
                outcome = judge_reply(matcher, received)
                if outcome is not None:
                    return outcome
    except TimeoutError:
        detail = phase + (f": got {matcher.shown(received)}" if received else "")
        return False, timed_out(spec.timeout, detail)
    except OSError as exc:
        return False, describe_error(exc)
    finally:
        if sock is not None:
            net.abort(sock)


def _closed_early(matcher: ExpectMatcher, received: bytearray) -> str:
    if not received:
        return "connection closed with no reply"
    return f"expect not matched: got {matcher.shown(received)} before the connection closed"
