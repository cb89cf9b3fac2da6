"""DNS checks: ask the real server itself (host:port over UDP, TCP if truncated)."""

from __future__ import annotations

import asyncio
import re
import socket

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from . import net
from .matching import compiled_regex
from .reasons import describe_error, excerpt, one_line, timed_out
from .spec import CheckSpec, Outcome


async def check_dns(spec: CheckSpec) -> Outcome:
    """Query dns_name/dns_type and, when dns_expect is set, require one answer whose rdata
    text equals it (case and a trailing dot ignored) or matches it as a regex.

    dnspython's asyncquery sends one query straight to the server under test. Its stub
    Resolver would add search domains, retries across nameservers and a cache, none of
    which belong in a health check of one server."""
    if not spec.dns_name:
        return False, "no DNS name to query"
    try:
        qname = dns.name.from_text(spec.dns_name)
        rdtype = dns.rdatatype.from_text(spec.dns_type or "A")
        if spec.use_regex and spec.dns_expect:
            compiled_regex(spec.dns_expect)
    except re.error as exc:
        return False, f"bad expect regex: {exc}"
    except (dns.exception.DNSException, ValueError) as exc:
        return False, one_line(f"bad DNS query: {exc}")
    type_text = dns.rdatatype.to_text(rdtype)
    try:
        async with asyncio.timeout(spec.timeout):
            family, sockaddr = await net.resolve(spec.host, spec.port, socket.SOCK_DGRAM)
            where = sockaddr[0]
            query = dns.message.make_query(qname, rdtype)
            # A connected UDP socket, so an ICMP port-unreachable reports "connection
            # refused" at once instead of waiting out the timeout.
            backend = dns.asyncbackend.get_default_backend()
            udp_sock = await backend.make_socket(family, socket.SOCK_DGRAM, 0, None, (where, spec.port))
            async with udp_sock:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, where, port=spec.port, timeout=spec.timeout, udp_sock=udp_sock
                )
    except (TimeoutError, dns.exception.Timeout):
        return False, timed_out(spec.timeout, "waiting for the DNS answer")
    except OSError as exc:
        return False, describe_error(exc)
    except dns.exception.DNSException as exc:
        return False, one_line(f"bad DNS response: {exc}")

    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return False, f"DNS {dns.rcode.to_text(rcode)}"
    texts = _answer_texts(response)
    if not texts:
        return False, f"no {type_text} record for {qname}"
    if not spec.dns_expect:
        return True, one_line(f"{type_text} {', '.join(texts[:3])}")
    if any(_rdata_matches(text, spec.dns_expect, spec.use_regex) for text in texts):
        return True, one_line(f"{type_text} answer has {spec.dns_expect}")
    return False, one_line(f"{type_text} answer lacks {excerpt(spec.dns_expect)}: got {', '.join(texts[:3])}")


def _answer_texts(response: dns.message.Message) -> list[str]:
    """The rdata texts for the question, following CNAMEs inside the response."""
    try:
        answer = response.resolve_chaining().answer
    except dns.exception.DNSException:  # a CNAME loop, or a reply with no question
        return []
    if answer is None:
        return []
    return sorted(rdata.to_text() for rdata in answer)  # an rdataset has no order


def _rdata_matches(text: str, expected: str, use_regex: bool) -> bool:
    if use_regex:
        return compiled_regex(expected).search(text.encode()) is not None
    return _comparable(text) == _comparable(expected)


def _comparable(rdata_text: str) -> str:
    """'"v=spf1 -all"' and 'v=spf1 -all', 'MX1.Example.com.' and 'mx1.example.com' alike."""
    return rdata_text.strip().strip('"').rstrip(".").lower()
