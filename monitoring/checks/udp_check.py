"""UDP send/expect."""

from __future__ import annotations

import asyncio
import re
import socket

from . import net
from .matching import ExpectMatcher, decode_escapes, judge_reply
from .reasons import describe_error, seconds, timed_out
from .spec import CheckSpec, Outcome

# With a blank expect, UDP can only tell "something answered or nothing refused".
# An ICMP port-unreachable comes back within one round trip, so listening for the whole
# timeout would only make every such check as slow as its timeout.
SILENCE_WINDOW = 1.0


async def check_udp(spec: CheckSpec) -> Outcome:
    """Send one datagram (empty when send is blank) on a connected UDP socket and read
    datagrams until expect matches or the timeout. The connected socket turns an ICMP
    port-unreachable into ECONNREFUSED, so a closed port is reported, not timed out."""
    try:
        matcher = ExpectMatcher(spec.expect, spec.use_regex)
    except re.error as exc:
        return False, f"bad expect regex: {exc}"
    payload = decode_escapes(spec.send).encode()
    loop = asyncio.get_running_loop()
    received = bytearray()
    listen = spec.timeout if spec.expect else min(spec.timeout, SILENCE_WINDOW)
    started = loop.time()
    sock = None
    try:
        async with asyncio.timeout_at(started + spec.timeout):
            sock = await net.connect(spec.host, spec.port, socket.SOCK_DGRAM)
            await loop.sock_sendall(sock, payload)
        async with asyncio.timeout_at(started + listen):
            while True:
                received += await loop.sock_recv(sock, 65535)
                if not spec.expect:
                    return True, "got a reply"
                outcome = judge_reply(matcher, received)
                if outcome is not None:
                    return outcome
    except TimeoutError:
        if sock is None:
            return False, timed_out(spec.timeout, "sending")
        if not spec.expect:
            return True, f"no reply and no ICMP error within {seconds(listen)} s"
        detail = "waiting for reply" + (f": got {matcher.shown(received)}" if received else "")
        return False, timed_out(spec.timeout, detail)
    except ConnectionRefusedError:
        return False, "connection refused (ICMP port unreachable)"
    except OSError as exc:
        return False, describe_error(exc)
    finally:
        if sock is not None:
            net.abort(sock)
