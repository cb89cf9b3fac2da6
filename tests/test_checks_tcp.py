"""TCP connect and send/expect checks against real loopback servers."""

from __future__ import annotations

import time

import pytest

from monitoring.checks import CheckSpec
from tests.test_checks_support import (
    ServerLoop,
    accept_and_wait,
    banner,
    check,
    close_at_once,
    closed_port,
    in_pieces,
    reply_after_line,
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
    stall,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_it_is_up_when_the_port_accepts(servers: ServerLoop, host: str) -> None:
    port = servers.tcp(accept_and_wait, host=host)
    result = check(CheckSpec("tcp", host=host, port=port, timeout=2))
    assert result.ok, result
    assert result.reason == "connected"
    assert 0 < result.latency_ms < 1000


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_it_reports_connection_refused_on_a_closed_port(host: str) -> None:
    result = check(CheckSpec("tcp", host=host, port=closed_port(host), timeout=2))
    assert not result.ok
    assert result.reason == "connection refused"


def test_it_reports_a_missing_host_without_raising() -> None:
    result = check(CheckSpec("tcp", host="", port=80, timeout=1))
    assert (result.ok, result.reason) == (False, "no host to check")


def test_it_reports_a_port_out_of_range_without_raising() -> None:
    result = check(CheckSpec("tcp", host="127.0.0.1", port=70000, timeout=1))
    assert (result.ok, result.reason) == (False, "port 70000 is not 1-65535")


def test_it_resolves_a_host_name() -> None:
    result = check(CheckSpec("tcp", host="localhost", port=closed_port("127.0.0.1"), timeout=2))
    # localhost resolves (to 127.0.0.1 or ::1); either way nothing listens there.
    assert result.reason == "connection refused"


def test_it_reads_a_banner_when_send_is_blank(servers: ServerLoop) -> None:
    port = servers.tcp(banner(b"220 mail.example ESMTP ready\r\n"))
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="220 ", timeout=2))
    assert result.ok, result
    assert result.reason == "expect matched"


def test_it_sends_with_escapes_and_matches_the_expect_prefix(servers: ServerLoop) -> None:
    port = servers.tcp(reply_after_line(b"HTTP/1.1 200 OK\r\n\r\n"))
    spec = CheckSpec(
        "send_expect", host="127.0.0.1", port=port, send=r"GET / HTTP/1.0\r\n\r\n",
        expect="HTTP/1.1 200", timeout=2,
    )
    assert check(spec).ok


def test_it_is_down_with_what_came_back_when_expect_does_not_match(servers: ServerLoop) -> None:
    port = servers.tcp(reply_after_line(b"HTTP/1.1 500 Internal Server Error\r\n\r\n"))
    spec = CheckSpec(
        "send_expect", host="127.0.0.1", port=port, send=r"GET / HTTP/1.0\r\n\r\n",
        expect="HTTP/1.1 200", timeout=2,
    )
    result = check(spec)
    assert not result.ok
    assert result.reason == "expect not matched: got 'HTTP/1.1 500'"


def test_it_waits_for_an_expect_sent_slowly_in_pieces(servers: ServerLoop) -> None:
    # nanny read once and would have seen only "HT".
    port = servers.tcp(in_pieces([b"HT", b"TP/1.1 ", b"20", b"0 OK\r\n"], pause=0.15))
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="HTTP/1.1 200", timeout=3))
    assert result.ok, result
    assert result.latency_ms >= 400  # it really waited for the last piece


def test_it_fails_fast_when_the_first_piece_already_differs(servers: ServerLoop) -> None:
    port = servers.tcp(in_pieces([b"HTTP/1.1 5", b"00 no\r\n"], pause=1.0))
    started = time.monotonic()
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="HTTP/1.1 200", timeout=3))
    assert not result.ok
    assert result.reason == "expect not matched: got 'HTTP/1.1 5'"
    assert time.monotonic() - started < 0.9


def test_it_matches_a_regex_across_pieces(servers: ServerLoop) -> None:
    port = servers.tcp(in_pieces([b"+OK POP3 ", b"server ", b"ready <1@x>\r\n"], pause=0.1))
    spec = CheckSpec(
        "send_expect", host="127.0.0.1", port=port, expect=r"^\+OK .*ready", use_regex=True, timeout=2
    )
    assert check(spec).ok


def test_it_reports_a_regex_that_never_matches_when_the_server_closes(servers: ServerLoop) -> None:
    async def then_close(reader, writer):  # send, then close
        writer.write(b"-ERR go away\r\n")
        await writer.drain()
        writer.close()

    port = servers.tcp(then_close)
    spec = CheckSpec("send_expect", host="127.0.0.1", port=port, expect=r"^\+OK", use_regex=True, timeout=2)
    result = check(spec)
    assert not result.ok
    assert result.reason == r"expect not matched: got '-ERR go away\r\n' before the connection closed"


def test_it_accepts_any_reply_when_expect_is_a_star(servers: ServerLoop) -> None:
    port = servers.tcp(banner(b"x"))
    assert check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="*", timeout=2)).ok


def test_it_is_down_with_a_clear_reason_when_the_server_closes_early(servers: ServerLoop) -> None:
    port = servers.tcp(close_at_once)
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="220", timeout=2))
    assert not result.ok
    assert result.reason == "connection closed with no reply"


def test_it_times_out_on_a_server_that_accepts_and_never_answers(servers: ServerLoop) -> None:
    port = servers.tcp(stall)
    started = time.monotonic()
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, send="PING\\n", expect="PONG", timeout=0.5))
    assert not result.ok
    assert result.reason == "timed out after 0.5 s waiting for reply"
    assert 0.45 < time.monotonic() - started < 1.5


def test_it_times_out_with_the_partial_reply_it_got(servers: ServerLoop) -> None:
    port = servers.tcp(in_pieces([b"PO"], pause=10))
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, expect="PONG", timeout=0.5))
    assert result.reason == "timed out after 0.5 s waiting for reply: got 'PO'"


def test_it_sends_and_is_up_when_expect_is_blank(servers: ServerLoop) -> None:
    port = servers.tcp(accept_and_wait)
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=port, send="QUIT\\r\\n", timeout=2))
    assert (result.ok, result.reason) == (True, "connected and sent")


def test_it_runs_send_expect_over_ipv6(servers: ServerLoop) -> None:
    port = servers.tcp(banner(b"SSH-2.0-OpenSSH_9.2\r\n"), host="::1")
    assert check(CheckSpec("send_expect", host="::1", port=port, expect="SSH-2.0-", timeout=2)).ok


def test_it_reports_a_bad_regex_as_down() -> None:
    result = check(CheckSpec("send_expect", host="127.0.0.1", port=1, expect="(", use_regex=True, timeout=1))
    assert not result.ok
    assert result.reason == "bad expect regex: missing ), unterminated subpattern at position 0"
