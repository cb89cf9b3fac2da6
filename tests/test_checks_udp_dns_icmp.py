"""UDP, DNS and ICMP checks against real loopback sockets."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from monitoring.checks import CheckSpec
from monitoring.checks.icmp_check import NOT_PERMITTED, check_icmp
from tests.test_checks_support import (
    ServerLoop,
    TinyDns,
    UdpEcho,
    UdpSilent,
    check,
    closed_port,
    ping_group_allows_us,
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
)

# --- UDP -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_it_matches_a_udp_reply(servers: ServerLoop, host: str) -> None:
    port = servers.udp(UdpEcho, host=host)
    result = check(CheckSpec("udp", host=host, port=port, send=r"ping\n", expect=r"echo:ping\n", timeout=2))
    assert (result.ok, result.reason) == (True, "expect matched")


def test_it_is_down_when_the_udp_reply_differs(servers: ServerLoop) -> None:
    port = servers.udp(UdpEcho)
    result = check(CheckSpec("udp", host="127.0.0.1", port=port, send="ping", expect="pong", timeout=2))
    assert (result.ok, result.reason) == (False, "expect not matched: got 'echo'")


def test_it_reports_an_icmp_port_unreachable_as_refused() -> None:
    port = closed_port(kind=socket.SOCK_DGRAM)
    result = check(CheckSpec("udp", host="127.0.0.1", port=port, send="ping", expect="*", timeout=2))
    assert (result.ok, result.reason) == (False, "connection refused (ICMP port unreachable)")


def test_it_times_out_when_a_udp_server_never_answers(servers: ServerLoop) -> None:
    port = servers.udp(UdpSilent)
    result = check(CheckSpec("udp", host="127.0.0.1", port=port, send="ping", expect="*", timeout=0.3))
    assert (result.ok, result.reason) == (False, "timed out after 0.3 s waiting for reply")


def test_it_counts_silence_as_up_when_expect_is_blank(servers: ServerLoop) -> None:
    # keepalived's UDP_CHECK without require_reply: no ICMP error means the port is open.
    port = servers.udp(UdpSilent)
    result = check(CheckSpec("udp", host="127.0.0.1", port=port, send="ping", timeout=0.3))
    assert (result.ok, result.reason) == (True, "no reply and no ICMP error within 0.3 s")


def test_it_counts_a_closed_udp_port_as_down_even_when_expect_is_blank() -> None:
    port = closed_port(kind=socket.SOCK_DGRAM)
    result = check(CheckSpec("udp", host="127.0.0.1", port=port, timeout=2))
    assert not result.ok


# --- DNS -----------------------------------------------------------------------------

ZONE = {
    ("www.example.com.", "A"): ["127.0.0.10", "127.0.0.11"],
    ("www.example.com.", "AAAA"): ["::1"],
    ("mail.example.com.", "MX"): ["10 mx1.example.com."],
    ("alias.example.com.", "CNAME"): ["www.example.com."],
    ("example.com.", "TXT"): ['"v=spf1 -all"'],
}


def dns(port: int, **fields) -> CheckSpec:
    fields.setdefault("timeout", 2)
    return CheckSpec("dns", host=fields.pop("host", "127.0.0.1"), port=port, **fields)


def test_it_is_up_when_the_server_answers_the_query(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    result = check(dns(port, dns_name="www.example.com"))
    assert (result.ok, result.reason) == (True, "A 127.0.0.10, 127.0.0.11")


def test_it_requires_the_expected_answer(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    assert check(dns(port, dns_name="www.example.com", dns_expect="127.0.0.11")).ok
    result = check(dns(port, dns_name="www.example.com", dns_expect="127.0.0.1"))
    assert (result.ok, result.reason) == (False, "A answer lacks '127.0.0.1': got 127.0.0.10, 127.0.0.11")


@pytest.mark.parametrize(
    ("name", "rdtype", "expected", "use_regex"),
    [
        ("mail.example.com", "MX", "10 mx1.example.com", False),
        ("example.com", "TXT", "v=spf1 -all", False),
        ("www.example.com", "AAAA", "::1", False),
        ("www.example.com", "A", r"^127\.0\.0\.1[01]$", True),
    ],
)
def test_it_matches_other_record_types(servers: ServerLoop, name: str, rdtype: str, expected: str, use_regex: bool) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    result = check(dns(port, dns_name=name, dns_type=rdtype, dns_expect=expected, use_regex=use_regex))
    assert result.ok, result


def test_it_follows_a_cname_in_the_answer(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    assert check(dns(port, dns_name="alias.example.com", dns_expect="127.0.0.10")).ok


def test_it_is_down_on_nxdomain(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    result = check(dns(port, dns_name="nope.example.com"))
    assert (result.ok, result.reason) == (False, "DNS NXDOMAIN")


def test_it_is_down_when_the_name_has_no_record_of_that_type(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE))
    result = check(dns(port, dns_name="mail.example.com", dns_type="AAAA"))
    assert (result.ok, result.reason) == (False, "no AAAA record for mail.example.com.")


def test_it_times_out_when_the_dns_server_is_silent(servers: ServerLoop) -> None:
    port = servers.udp(UdpSilent)
    result = check(dns(port, dns_name="www.example.com", timeout=0.4))
    assert (result.ok, result.reason) == (False, "timed out after 0.4 s waiting for the DNS answer")


def test_it_is_down_when_no_dns_server_listens() -> None:
    result = check(dns(closed_port(kind=socket.SOCK_DGRAM), dns_name="www.example.com"))
    assert not result.ok
    assert result.reason == "connection refused"


def test_it_queries_a_dns_server_over_ipv6(servers: ServerLoop) -> None:
    port = servers.udp(lambda: TinyDns(ZONE), host="::1")
    assert check(dns(port, host="::1", dns_name="www.example.com")).ok


def test_it_reports_an_unknown_record_type() -> None:
    result = check(dns(53, dns_name="www.example.com", dns_type="BOGUS"))
    assert not result.ok
    assert result.reason.startswith("bad DNS query")


def test_it_needs_a_name_to_query() -> None:
    assert check(dns(53)).reason == "no DNS name to query"


# --- ICMP ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_it_pings_loopback_when_the_platform_allows_it(host: str) -> None:
    result = check(CheckSpec("icmp", host=host, timeout=2))
    if os.geteuid() == 0 or ping_group_allows_us():
        assert result.ok, result
        assert result.reason.startswith("echo reply in ")
    else:
        assert (result.ok, result.reason) == (False, NOT_PERMITTED)


def test_it_explains_when_unprivileged_ping_is_not_allowed() -> None:
    spec = CheckSpec("icmp", host="127.0.0.1", timeout=2)
    result = asyncio.run(check_icmp(spec, privileged=False))
    if ping_group_allows_us():
        assert result[0] is True
    else:
        assert result == (False, NOT_PERMITTED)
        assert "net.ipv4.ping_group_range" in NOT_PERMITTED
