"""HTTP and HTTPS checks against real loopback servers, including the seed article's
Outlook Web App check (https GET /owa, body contains "utlook", no verification)."""

from __future__ import annotations

import time

import pytest

import asyncio

from monitoring.checks import CheckResult, CheckSpec
from monitoring.checks.connect_prober import ConnectProber, can_probe
from tests import test_checks_support
from tests.test_checks_support import (
    OWA_PAGE,
    Certificate,
    HttpReply,
    SeenRequest,
    ServerLoop,
    close_at_once,
    closed_port,
    http_server,
    owa_route,
    reply_after_line,
    self_signed,  # noqa: F401  (fixture)
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
    stall,
)

# Either may win the race between the server's close and the client's read.
RACING_REASONS = {"connection closed waiting for the response", "connection reset"}


def check(spec: CheckSpec) -> CheckResult:
    """run_check's result; a plain HTTP check of an IP address is also run through the
    Scheduler's fast path (the ConnectProber's HTTP exchange), which must say the same."""
    general = test_checks_support.check(spec)
    if can_probe(spec):
        probed = probe(spec)
        assert probed.ok == general.ok, (probed, general)
        assert probed.reason == general.reason or {probed.reason, general.reason} <= RACING_REASONS, (probed, general)
    return general


def probe(spec: CheckSpec) -> CheckResult:
    async def once() -> CheckResult:
        done: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
        prober = ConnectProber(lambda key, result: done.set_result(result))
        prober.start("it", spec)
        try:
            return await asyncio.wait_for(done, spec.timeout + 2)
        finally:
            prober.close()

    return asyncio.run(once())


def serve(servers: ServerLoop, reply: HttpReply, seen: list[SeenRequest] | None = None, host: str = "127.0.0.1") -> int:
    return servers.tcp(http_server(lambda request: reply, seen), host=host)


def http(port: int, **fields) -> CheckSpec:
    fields.setdefault("timeout", 2)
    return CheckSpec("http", host=fields.pop("host", "127.0.0.1"), port=port, **fields)


def test_it_is_up_on_http_200(servers: ServerLoop) -> None:
    result = check(http(serve(servers, HttpReply(200))))
    assert (result.ok, result.reason) == (True, "HTTP 200")


def test_it_is_down_on_http_500(servers: ServerLoop) -> None:
    result = check(http(serve(servers, HttpReply(500))))
    assert (result.ok, result.reason) == (False, "HTTP 500")


def test_it_is_down_on_http_503(servers: ServerLoop) -> None:
    assert check(http(serve(servers, HttpReply(503)))).reason == "HTTP 503"


@pytest.mark.parametrize(
    ("status", "accepted", "ok"),
    [
        (301, "200,301-302", True),
        (302, "200,301-302", True),
        (303, "200,301-302", False),
        (204, "200", False),
        (399, "200-399", True),
        (404, "200-399", False),
    ],
)
def test_it_accepts_only_the_listed_statuses(servers: ServerLoop, status: int, accepted: str, ok: bool) -> None:
    result = check(http(serve(servers, HttpReply(status)), http_status=accepted))
    assert result.ok is ok, result


def test_it_reports_a_malformed_status_list_as_down() -> None:
    result = check(http(1, http_status="200-abc"))
    assert (result.ok, result.reason) == (False, "'200-abc' is not a status code or range like 200-399")


def test_it_sends_method_path_and_host_header(servers: ServerLoop) -> None:
    seen: list[SeenRequest] = []
    port = serve(servers, HttpReply(200), seen)
    spec = http(port, http_method="HEAD", http_path="/health?full=1", http_host="www.example.com")
    assert check(spec).ok
    assert (seen[0].method, seen[0].path) == ("HEAD", "/health?full=1")
    assert seen[0].headers["host"] == "www.example.com"


def test_it_sends_the_address_and_port_as_host_by_default(servers: ServerLoop) -> None:
    seen: list[SeenRequest] = []
    port = serve(servers, HttpReply(200), seen)
    check(http(port))
    assert seen[0].headers["host"] == f"127.0.0.1:{port}"


def test_it_finds_a_body_substring(servers: ServerLoop) -> None:
    result = check(http(serve(servers, HttpReply(200, b"<h1>All systems go</h1>")), http_body="systems go"))
    assert (result.ok, result.reason) == (True, "HTTP 200, body matched")


def test_it_is_down_when_the_body_lacks_the_substring(servers: ServerLoop) -> None:
    result = check(http(serve(servers, HttpReply(200, b"maintenance")), http_body="systems go"))
    assert (result.ok, result.reason) == (False, "HTTP 200 but the body lacks 'systems go'")


def test_it_matches_the_body_as_a_regex(servers: ServerLoop) -> None:
    port = serve(servers, HttpReply(200, b'{"status": "ok", "db": "up"}'))
    assert check(http(port, http_body=r'"db":\s*"up"', use_regex=True)).ok
    result = check(http(port, http_body=r'"db":\s*"down"', use_regex=True))
    assert result.reason == "HTTP 200 but the body does not match '\"db\":\\\\s*\"down\"'"


def test_it_decodes_a_chunked_body_before_matching(servers: ServerLoop) -> None:
    # Chunks of 7 bytes split "utlook" across a chunk boundary.
    port = serve(servers, HttpReply(200, b"Welcome to Outlook", chunked=True))
    assert check(http(port, http_body="utlook")).ok


def test_it_times_out_on_a_server_that_never_answers(servers: ServerLoop) -> None:
    result = check(http(servers.tcp(stall), timeout=0.5))
    assert (result.ok, result.reason) == (False, "timed out after 0.5 s waiting for the response")


def test_it_reports_a_server_that_closes_without_answering(servers: ServerLoop) -> None:
    result = check(http(servers.tcp(close_at_once)))
    assert not result.ok
    assert result.reason in ("connection closed waiting for the response", "connection reset")


def test_it_reports_a_reply_that_is_not_http(servers: ServerLoop) -> None:
    result = check(http(servers.tcp(reply_after_line(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"))))
    assert (result.ok, result.reason) == (False, "not an HTTP response: got 'SSH-2.0-OpenSSH_9.2'")


def test_it_reports_connection_refused() -> None:
    result = check(http(closed_port()))
    assert (result.ok, result.reason) == (False, "connection refused")


def test_it_refuses_a_path_that_would_inject_headers() -> None:
    result = check(http(80, http_path="/ HTTP/1.0\r\nX-Evil: 1\r\n"))
    assert not result.ok
    assert result.reason.startswith("bad HTTP path")


def test_it_checks_http_over_ipv6(servers: ServerLoop) -> None:
    seen: list[SeenRequest] = []
    port = serve(servers, HttpReply(200), seen, host="::1")
    assert check(http(port, host="::1")).ok
    assert seen[0].headers["host"] == f"[::1]:{port}"


# --- HTTPS ---------------------------------------------------------------------------


def https(port: int, **fields) -> CheckSpec:
    fields.setdefault("timeout", 2)
    return CheckSpec("https", host=fields.pop("host", "127.0.0.1"), port=port, **fields)


def test_it_rejects_a_self_signed_certificate_when_verifying(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(lambda r: HttpReply(200)), tls=self_signed.server_context())
    result = check(https(port))
    assert not result.ok
    assert result.reason == "TLS certificate verify failed: self-signed certificate"


def test_it_accepts_a_self_signed_certificate_with_verification_off(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(lambda r: HttpReply(200)), tls=self_signed.server_context())
    result = check(https(port, verify_tls=False))
    assert (result.ok, result.reason) == (True, "HTTP 200")


def test_it_verifies_against_a_given_ca_and_sends_the_sni_name(servers: ServerLoop, self_signed: Certificate) -> None:
    seen_sni: list[str | None] = []
    port = servers.tcp(http_server(lambda r: HttpReply(200)), tls=self_signed.server_context(seen_sni))
    result = check(https(port, sni="localhost", ca_file=str(self_signed.cert_path)))
    assert result.ok, result
    assert seen_sni == ["localhost"]


def test_it_fails_verification_when_the_sni_name_is_not_in_the_certificate(
    servers: ServerLoop, self_signed: Certificate
) -> None:
    port = servers.tcp(http_server(lambda r: HttpReply(200)), tls=self_signed.server_context())
    result = check(https(port, sni="mail.example.com", ca_file=str(self_signed.cert_path)))
    assert not result.ok
    assert result.reason.startswith("TLS certificate verify failed: Hostname mismatch")


def test_it_takes_the_sni_name_from_the_host_header(servers: ServerLoop, self_signed: Certificate) -> None:
    seen_sni: list[str | None] = []
    seen: list[SeenRequest] = []
    port = servers.tcp(http_server(lambda r: HttpReply(200), seen), tls=self_signed.server_context(seen_sni))
    assert check(https(port, http_host="localhost:8443", verify_tls=False)).ok
    assert seen_sni == ["localhost"]
    assert seen[0].headers["host"] == "localhost:8443"


def test_it_checks_https_over_ipv6(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(lambda r: HttpReply(200)), host="::1", tls=self_signed.server_context())
    assert check(https(port, host="::1", ca_file=str(self_signed.cert_path))).ok


def test_it_times_out_in_a_tls_handshake_that_never_ends(servers: ServerLoop) -> None:
    result = check(https(servers.tcp(stall), timeout=0.5))
    assert (result.ok, result.reason) == (False, "timed out after 0.5 s in the TLS handshake")


def test_the_seed_owa_check_is_up_when_outlook_web_app_answers(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(owa_route(healthy=True)), tls=self_signed.server_context())
    spec = https(port, http_path="/owa", http_body="utlook", verify_tls=False, timeout=30)
    result = check(spec)
    assert (result.ok, result.reason) == (True, "HTTP 200, body matched")
    assert b"utlook" in OWA_PAGE


def test_the_seed_owa_check_is_down_when_the_app_pool_is_broken(servers: ServerLoop, self_signed: Certificate) -> None:
    port = servers.tcp(http_server(owa_route(healthy=False)), tls=self_signed.server_context())
    spec = https(port, http_path="/owa", http_body="utlook", verify_tls=False, timeout=30)
    result = check(spec)
    assert (result.ok, result.reason) == (False, "HTTP 503")
    # ...while a plain TCP connect, the article's first check, still says up.
    assert check(CheckSpec("tcp", host="127.0.0.1", port=port, timeout=2)).ok


def test_only_plain_http_checks_of_ip_addresses_take_the_fast_path() -> None:
    assert can_probe(http(80))
    assert can_probe(http(80, host="::1"))
    assert not can_probe(http(80, host="localhost"))
    assert not can_probe(CheckSpec("https", host="127.0.0.1", port=443))
    assert not can_probe(http(80, http_status="200-abc"))  # check_http says what is wrong
    assert not can_probe(http(80, http_body="(", use_regex=True))


def test_the_fast_path_reads_a_body_that_arrives_in_pieces_and_stops_at_content_length(servers: ServerLoop) -> None:
    port = serve(servers, HttpReply(200, b"x" * 200_000 + b"Outlook"))
    assert check(http(port, http_body="Outlook")).reason == "HTTP 200, body matched"
    assert check(http(port, http_body="Exchange")).reason == "HTTP 200 but the body lacks 'Exchange'"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # The last chunk never comes and the server goes quiet: a timeout while reading.
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nWelco\r\n", "timed out after 0.5 s reading the body"),
        # Headers only, then silence: waiting for the rest of the response.
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", "timed out after 0.5 s waiting for the response"),
        # A chunk-size line that is not hex ends the body; what came before is judged.
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", "HTTP 200 but the body lacks 'Outlook'"),
    ],
)
def test_the_fast_path_says_what_check_http_says_about_odd_responses(servers: ServerLoop, raw: bytes,
                                                                       reason: str) -> None:
    result = check(http(servers.tcp(reply_after_line(raw)), http_body="Outlook", timeout=0.5))
    assert (result.ok, result.reason) == (False, reason)


def test_it_checks_a_thousand_http_servers_in_one_cycle(servers: ServerLoop) -> None:
    from monitoring.checks import run_batch
    import asyncio

    ports = [serve(servers, HttpReply(200, b"Outlook")) for _ in range(10)]
    specs = [http(ports[i % 10], http_body="utlook", timeout=5) for i in range(1000)]
    started = time.monotonic()
    results = asyncio.run(run_batch(specs))
    elapsed = time.monotonic() - started
    assert all(result.ok for result in results), {r.reason for r in results if not r.ok}
    assert elapsed < 6.0  # the default interval; measured about 1 s on the 2-core dev box
