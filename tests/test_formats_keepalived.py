"""keepalived.conf: rendering, reading the common subset, reporting the rest, refusing bad syntax."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings

from virtualservers.formats.config import (
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
)
from virtualservers.formats.keepalived import (
    KeepalivedError,
    keepalived_report,
    parse_keepalived,
    render_keepalived,
)
from virtualservers.formats.lvscf import parse_lvscf
from tests.test_formats_lvscf import load as load_lvscf
from tests.test_formats_strategies import keepalived_configs

CORPUS = Path(__file__).parent / "corpus" / "keepalived"
LVSCF = Path(__file__).parent / "corpus" / "lvscf"
BROKEN = sorted((CORPUS / "broken").glob("*.conf"))


def block(text: str, head: str) -> str:
    """The text of the block that starts with `head`, up to its closing brace."""
    start = text.index(head)
    depth, i = 0, start
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
        i += 1


def words(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


# --- rendering ---------------------------------------------------------------------------


def exchange() -> Config:
    config, _ = parse_lvscf((LVSCF / "piranha_example.cf").read_text())
    return config


def test_it_renders_a_virtual_server_block_with_its_real_servers():
    text = render_keepalived(exchange())
    vs = block(text, "virtual_server 192.0.2.50 443 {")
    assert words(vs)[:7] == [
        ["virtual_server", "192.0.2.50", "443", "{"],
        ["delay_loop", "30"],
        ["lb_algo", "rr"],
        ["lb_kind", "DR"],
        ["persistence_timeout", "14400"],
        ["persistence_granularity", "255.255.255.255"],
        ["protocol", "TCP"],
    ]
    assert "quorum" not in text
    rs = block(vs, "real_server 192.0.2.22 443 {")
    assert words(rs) == [
        ["real_server", "192.0.2.22", "443", "{"],
        ["weight", "1"],
        ["MISC_CHECK", "{"],
        ["misc_path", '"/usr/local/bin/lvs_check_owa', '192.0.2.22', '443"'],
        ["misc_timeout", "30"],
        ["retry", "0"],
        ["delay_before_retry", "30"],
        ["}"],
        ["}"],
    ]


def _vs(**kwargs) -> VirtualServerConfig:
    defaults = dict(
        name="web", address="192.0.2.80", port=80,
        real_servers=[RealServerConfig("a", "192.0.2.81"), RealServerConfig("b", "192.0.2.82", port=8080, weight=5)],
    )
    defaults.update(kwargs)
    return VirtualServerConfig(**defaults)


def test_it_renders_tcp_check_with_connect_port_timeout_retry_and_delays():
    hc = HealthCheckConfig(check_type="tcp", interval=7, timeout=3, fall=3)
    text = render_keepalived(Config(virtual_servers=[_vs(health_check=hc, quiesce_server=True)]))
    rs = block(text, "real_server 192.0.2.82 8080 {")
    assert words(rs) == [
        ["real_server", "192.0.2.82", "8080", "{"],
        ["weight", "5"],
        ["inhibit_on_failure"],
        ["TCP_CHECK", "{"],
        ["connect_port", "8080"],
        ["connect_timeout", "3"],
        ["retry", "2"],
        ["delay_before_retry", "7"],
        ["}"],
        ["}"],
    ]
    assert ["delay_loop", "7"] in words(text)
    assert ["lb_kind", "NAT"] in words(text)


def test_it_renders_http_and_ssl_checks_with_url_virtualhost_and_sni():
    hc = HealthCheckConfig(check_type="https", http_path="/owa", http_status="200,301-302",
                           http_host="mail.example.com", sni="mail.example.com", http_body="utlook", verify_tls=False)
    text = render_keepalived(Config(virtual_servers=[_vs(port=443, health_check=hc, real_servers=[RealServerConfig("a", "192.0.2.81")])]))
    checker = block(text, "SSL_GET {")
    assert words(checker) == [
        ["SSL_GET", "{"],
        ["connect_port", "443"],
        ["connect_timeout", "6"],
        ["virtualhost", "mail.example.com"],
        ["enable_sni"],
        ["sni_name", "mail.example.com"],
        ["url", "{"],
        ["path", "/owa"],
        ["status_code", "200", "301-302"],
        ["regex", "utlook"],
        ["}"],
        ["retry", "2"],
        ["delay_before_retry", "6"],
        ["}"],
    ]
    plain = render_keepalived(Config(virtual_servers=[_vs(health_check=HealthCheckConfig(check_type="http"))]))
    assert "HTTP_GET {" in plain and "SSL_GET" not in plain


def test_it_replaces_percent_h_and_percent_p_per_real_server_in_misc_path():
    hc = HealthCheckConfig(check_type="program", send_program="/bin/check --url=http://%h:%p/ %h", timeout=4)
    text = render_keepalived(Config(virtual_servers=[_vs(health_check=hc)]))
    assert 'misc_path "/bin/check --url=http://192.0.2.81:80/ 192.0.2.81"' in text
    assert 'misc_path "/bin/check --url=http://192.0.2.82:8080/ 192.0.2.82"' in text
    assert "misc_timeout 4" in text


def test_it_renders_fwmark_sorry_server_tunnel_and_per_server_forwarding():
    vs = _vs(
        fwmark=12, forwarding="tunnel", sorry_server="192.0.2.99", sorry_port=8080, persistent=600,
        real_servers=[RealServerConfig("a", "192.0.2.81", forwarding="direct"), RealServerConfig("b", "192.0.2.82")],
    )
    text = render_keepalived(Config(cluster=ClusterConfig(network="direct"), virtual_servers=[vs]))
    assert "virtual_server fwmark 12 {" in text
    assert ["lb_kind", "TUN"] in words(text)
    assert ["sorry_server", "192.0.2.99", "8080"] in words(text)
    assert ["lvs_method", "DR"] in words(block(text, "real_server 192.0.2.81"))
    assert "lvs_method" not in block(text, "real_server 192.0.2.82")
    assert "virtual server 'web': address 192.0.2.80 and port 80 not written (keepalived knows a firewall-mark service by its mark)" in keepalived_report(Config(virtual_servers=[vs]))


def test_it_leaves_out_inactive_virtual_servers_and_disabled_real_servers_and_reports_them():
    config = Config(virtual_servers=[
        _vs(name="off", active=False),
        _vs(name="on", address="192.0.2.90", real_servers=[
            RealServerConfig("up", "192.0.2.91"),
            RealServerConfig("down", "192.0.2.92", admin_state="disabled"),
            RealServerConfig("drain", "192.0.2.93", weight=7, admin_state="draining"),
        ]),
    ])
    text = render_keepalived(config)
    assert "192.0.2.80" not in text and "192.0.2.92" not in text
    assert ["weight", "0"] in words(block(text, "real_server 192.0.2.93"))
    assert keepalived_report(config) == [
        "virtual server 'off': inactive, not written",
        "virtual server 'on': rise 2 not written (keepalived brings a server up on its first success)",
        "virtual server 'on': real server 'down' is disabled, not written",
        "virtual server 'on': real server 'drain' is draining, written with weight 0",
    ]


def test_it_renders_ipv6_and_sctp():
    vs = VirtualServerConfig(name="v6", address="2001:db8::1", port=443, protocol="sctp",
                             real_servers=[RealServerConfig("r", "2001:db8::2")])
    text = render_keepalived(Config(virtual_servers=[vs]))
    assert "virtual_server 2001:db8::1 443 {" in text and "protocol SCTP" in text
    assert "real_server 2001:db8::2 443 {" in text


def test_it_renders_a_check_address_and_port_as_connect_ip_and_connect_port():
    hc = HealthCheckConfig(check_type="http", http_path="/healthz")
    vs = _vs(health_check=hc, real_servers=[
        RealServerConfig("a", "192.0.2.81", check_address="198.51.100.81", check_port=8081),
        RealServerConfig("b", "192.0.2.82", port=8080, check_port=9090),
        RealServerConfig("c", "192.0.2.83"),
    ])
    config = Config(virtual_servers=[vs])
    text = render_keepalived(config)
    assert words(block(text, "HTTP_GET {"))[1:3] == [["connect_ip", "198.51.100.81"], ["connect_port", "8081"]]
    b = block(text, "real_server 192.0.2.82 8080 {")
    assert ["connect_port", "9090"] in words(b) and "connect_ip" not in b
    c = block(text, "real_server 192.0.2.83 80 {")
    assert ["connect_port", "80"] in words(c) and "connect_ip" not in c
    assert keepalived_report(config) == ["virtual server 'web': rise 2 not written (keepalived brings a server up on its first success)"]


def test_it_puts_the_check_target_into_misc_path_and_reports_that_it_cannot_come_back_as_such():
    hc = HealthCheckConfig(check_type="program", send_program="/bin/check %h %p", rise=1)
    vs = _vs(health_check=hc, real_servers=[RealServerConfig("a", "192.0.2.81", check_address="127.0.0.1", check_port=9)])
    config = Config(virtual_servers=[vs])
    text = render_keepalived(config)
    assert 'misc_path "/bin/check 127.0.0.1 9"' in text and "connect_" not in text
    assert keepalived_report(config) == [
        "virtual server 'web': real server 'a': check address/port written into misc_path for %h/%p "
        "(MISC_CHECK has no connect_ip/connect_port); an import reads them back as part of the program",
    ]


def test_it_reports_slow_start_directors_and_check_targets_without_a_checker_line_by_line():
    config = Config(virtual_servers=[
        _vs(name="slow", health_check=HealthCheckConfig(rise=1, slow_start=60), directors=["edge-1", "edge-2"]),
        _vs(name="unchecked", address="192.0.2.90", health_check=HealthCheckConfig(check_type="none"),
            real_servers=[RealServerConfig("a", "192.0.2.91", check_port=8081),
                          RealServerConfig("off", "192.0.2.92", admin_state="disabled", check_address="127.0.0.1")]),
    ])
    assert keepalived_report(config) == [
        "virtual server 'slow': slow_start 60 s not written (keepalived has no slow start: a recovered server gets its full weight at once)",
        "virtual server 'slow': directors edge-1, edge-2 not written (keepalived.conf names no directors: install it on those only)",
        "virtual server 'unchecked': real server 'a': check address/port not written (no checker)",
        "virtual server 'unchecked': real server 'off' is disabled, not written",
    ]
    text = render_keepalived(config)
    assert "slow_start" not in text and "edge-1" not in text and "8081" not in text


# --- reading -----------------------------------------------------------------------------


def test_it_reads_connect_ip_and_connect_port_as_the_check_address_and_port():
    name = "check_target.conf"
    config, report = parse_keepalived((CORPUS / name).read_text(), path=name)
    assert report == [f"{name}:62: bindto not imported", f"{name}:78: connect_ip not imported"]
    web, v6, smtp = config.virtual_servers
    assert [(rs.address, rs.check_address, rs.check_port) for rs in web.real_servers] == [
        ("192.0.2.101", "198.51.100.101", 8081),
        ("192.0.2.102", "", 8081),
        ("192.0.2.103", "", None),  # connect_port equal to the server's own port: no override
    ]
    assert (web.health_check.check_type, web.health_check.http_path, web.health_check.interval) == ("http", "/healthz", 5)
    [rs6] = v6.real_servers
    assert (rs6.port, rs6.check_address, rs6.check_port) == (8443, "2001:db8:1::101", 9443)
    assert [(rs.check_address, rs.check_port) for rs in smtp.real_servers] == [("", None)]
    assert smtp.health_check.send_program == "/usr/local/bin/check_smtp %h"


def test_the_check_target_corpus_renders_back_to_the_same_configuration():
    config, _ = parse_keepalived((CORPUS / "check_target.conf").read_text())
    again, report = parse_keepalived(render_keepalived(config))
    assert report == [] and again == config


def test_it_reads_http_and_tcp_and_reports_what_it_leaves_out_line_by_line():
    name = "http_and_tcp.conf"
    config, report = parse_keepalived((CORPUS / name).read_text(), path=name)
    assert report == [
        f"{name}:3: global_defs not imported",
        f"{name}:10: include /etc/keepalived/conf.d/*.conf not read: one uploaded file cannot bring the files "
        "it includes (manage.py import_keepalived PATH reads them)",
        f"{name}:12: vrrp_instance not imported",
        f"{name}:30: quorum 1 not imported (lbadmin has no quorum: the sorry server takes over when every "
        "real server is down)",
        f"{name}:38: digest not imported (lbadmin does not compare an MD5 of the page: it checks the status "
        "code, and a regex when there is one)",
    ]
    web, smtp = config.virtual_servers
    assert (web.name, web.address, web.port, web.scheduler, web.forwarding) == ("192.0.2.80-80", "192.0.2.80", 80, "wlc", "direct")
    assert (web.persistent, web.pmask, web.protocol) == (300, "255.255.255.0", "tcp")
    assert [(rs.name, rs.address, rs.port, rs.weight) for rs in web.real_servers] == [
        ("192.0.2.11", "192.0.2.11", None, 2), ("192.0.2.12", "192.0.2.12", None, 1),
    ]
    hc = web.health_check
    assert (hc.check_type, hc.http_path, hc.http_status) == ("http", "/health", "200,301-302")
    assert (hc.interval, hc.timeout, hc.fall, hc.rise) == (6, 3, 3, 1)
    assert (smtp.forwarding, smtp.real_servers[0].port, smtp.real_servers[0].name) == ("", 2525, "198.51.100.25-2525")
    assert (smtp.health_check.check_type, smtp.health_check.interval, smtp.health_check.timeout) == ("tcp", 10, 4)
    assert smtp.health_check.fall == 2  # keepalived's default retry 1


def test_it_reads_ssl_misc_dns_ping_fwmark_and_ipv6():
    name = "ssl_misc_dns.conf"
    config, report = parse_keepalived((CORPUS / name).read_text(), path=name)
    assert report == [
        f"{name}:61: virtual_server fwmark 7 has no address; set to 0.0.0.0, set the VIP after import",
        f"{name}:78: 2 checkers on this real server (keepalived needs all of them up); lbadmin has one check "
        "per virtual server: SMTP_CHECK (line 82) imported, not TCP_CHECK (line 79)",
        f"{name}:82: SMTP_CHECK imported as a send/expect check that waits for the server's 220 greeting "
        "(lbadmin sends no HELO)",
    ]
    owa, app, dns, mark, v6 = config.virtual_servers
    assert (owa.scheduler, owa.forwarding, owa.quiesce_server) == ("sh", "tunnel", True)
    assert (owa.sorry_server, owa.sorry_port) == ("192.0.2.99", 8443)
    hc = owa.health_check
    assert (hc.check_type, hc.http_path, hc.http_body, hc.use_regex, hc.verify_tls) == ("https", "/owa", "utlook", False, False)
    assert (hc.http_host, hc.sni, hc.initial_state, hc.fall, hc.http_status) == ("mail.example.com", "mail.example.com", "down", 1, "200-299")
    assert app.health_check.send_program == "/usr/local/bin/check_app --host %h --port %p"
    assert (app.health_check.timeout, app.health_check.interval, app.health_check.fall) == (7, 20, 1)
    assert (dns.name, dns.protocol, dns.health_check.check_type) == ("192.0.2.53-53-udp", "udp", "dns")
    assert (dns.health_check.dns_type, dns.health_check.dns_name, dns.health_check.fall) == ("A", "www.example.com", 4)
    assert (mark.name, mark.fwmark, mark.address, mark.persistent, mark.health_check.check_type) == ("fwmark-7", 7, "0.0.0.0", 600, "icmp")
    assert (v6.address, v6.real_servers[0].address, v6.real_servers[0].name) == ("2001:db8::80", "2001:db8::81", "2001_db8__81")
    assert (v6.health_check.check_type, v6.health_check.send, v6.health_check.expect) == ("send_expect", "", "220")


def test_it_reads_its_own_rendering_of_the_lvscf_corpus():
    for path in sorted(LVSCF.glob("*.cf")):
        config = load_lvscf(path.name)  # with the corpus's host names, never DNS
        parsed, report = parse_keepalived(render_keepalived(config))
        # keepalived names a firewall-mark service by its mark alone: the VIP is not in the file.
        assert all("has no address" in line for line in report)
        assert len(report) == sum(1 for vs in config.virtual_servers if vs.active and vs.fwmark is not None)
        active = [vs for vs in config.virtual_servers if vs.active]
        def key(vs):
            return (vs.fwmark or vs.port, vs.protocol, vs.scheduler, [rs.address for rs in vs.real_servers if rs.admin_state != "disabled"])

        assert [key(vs) for vs in parsed.virtual_servers] == [key(vs) for vs in active]


def test_it_reports_conditional_and_parameter_lines():
    text = "$VIP=192.0.2.1\nvirtual_server 192.0.2.1 80 {\n  @main lb_algo rr\n}\n"
    config, report = parse_keepalived(text)
    assert report == ["keepalived.conf:1: parameter definition not imported", "keepalived.conf:3: conditional line not imported"]
    assert config.virtual_servers[0].scheduler == "wlc"


def test_it_reads_a_brace_on_its_own_line_and_comments_with_bang_or_hash():
    text = "virtual_server 192.0.2.1 80\n{\n  lb_algo rr ! comment\n  # comment\n  real_server 192.0.2.2 80 { weight 4 }\n}\n"
    [vs] = parse_keepalived(text)[0].virtual_servers
    assert (vs.scheduler, vs.real_servers[0].weight) == ("rr", 4)


def test_it_refuses_a_virtual_server_group_that_is_not_defined():
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived("virtual_server group G1 {\n  lb_algo rr\n}\n")
    assert str(caught.value) == "keepalived.conf:1: virtual_server group G1: no virtual_server_group G1 in this file"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_it_refuses_each_broken_file_at_the_expected_line(path):
    text = path.read_text()
    expected = re.match(r"# expect: (\d+): (.*)", text)
    assert expected, f"{path.name} has no '# expect: LINE: message' first line"
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived(text, path=f"broken/{path.name}")
    assert str(caught.value) == f"broken/{path.name}:{expected.group(1)}: {expected.group(2)}"


@settings(max_examples=300, deadline=None)
@given(keepalived_configs())
def test_parse_of_render_gives_back_the_same_configuration_within_the_common_subset(config):
    assert keepalived_report(config) == []
    parsed, report = parse_keepalived(render_keepalived(config))
    assert report == []
    assert parsed == config


def test_a_value_keepalived_cannot_carry_is_left_out_with_a_note_never_injected():
    from virtualservers.formats.config import Config, HealthCheckConfig, RealServerConfig, VirtualServerConfig
    from virtualservers.formats.keepalived import keepalived_report, render_keepalived

    check = HealthCheckConfig(check_type="program",
                              send_program='/usr/local/lib/lbadmin/checks/owa "%h" }\nvirtual_server 6.6.6.6 1 {')
    vs = VirtualServerConfig(name="web", address="192.0.2.50", port=80, active=True, health_check=check,
                             real_servers=[RealServerConfig(name="r1", address="192.0.2.21")])
    text = render_keepalived(Config(virtual_servers=[vs]))
    assert "6.6.6.6" not in text and "misc_path" not in text
    assert "MISC_CHECK left out" in text
    assert any("left out: a value holds a quote" in note for note in keepalived_report(Config(virtual_servers=[vs])))


# --- real files: the corpus of habits and of keepalived's own samples --------------------
# Every *.conf in the corpus says on its first line where such a file is found; each is read
# here with a loader over the corpus folder, and imported for real in
# tests/test_configio_keepalived_corpus.py.

GOOD = sorted(CORPUS.glob("*.conf"))
PROGRAMS = "/usr/local/lib/lbadmin/checks"


def disk(pattern: str, including: str) -> list[tuple[str, str]]:
    """A loader over the real corpus folder, as the command line reads includes."""
    if pattern.startswith("/"):
        return []  # the corpus names /etc/keepalived/... as real files do: not on a test machine
    base = Path(including).parent
    return [(os.path.normpath(p), p.read_text()) for p in sorted(base.glob(pattern)) if p.is_file()]


def read(name: str, **kwargs):
    path = CORPUS / name
    return parse_keepalived(path.read_text(), str(path), loader=disk, program_dir=PROGRAMS, **kwargs)


def says(warnings: list[str], name: str) -> list[str]:
    """The warnings of one file, without the path before LINE."""
    prefix = f"{CORPUS / name}:"
    return [w[len(prefix):] for w in warnings if w.startswith(prefix)]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_each_corpus_file_says_where_such_a_file_is_found_and_is_read_with_its_services(path):
    first = path.read_text().lstrip("\ufeff").splitlines()[0]
    assert re.match(r"[#!] like ", first), first
    config, warnings = read(path.name)
    assert config.virtual_servers
    assert all(re.match(r"\S+:\d+: \S", w) for w in warnings), warnings


def test_comments_start_at_an_unquoted_hash_or_bang_anywhere_on_a_line():
    config, warnings = read("comments.conf")
    [vs] = config.virtual_servers
    hc = vs.health_check
    assert (vs.scheduler, vs.forwarding, vs.real_servers[0].weight, hc.interval) == ("wrr", "direct", 3, 10)
    assert (hc.http_path, hc.http_body, hc.http_host) == ("/status#live", "ok!", "www.example.com")
    assert says(warnings, "comments.conf") == ["3: global_defs not imported"]


def test_crlf_line_endings_and_a_byte_order_mark_read_like_plain_lines():
    path = CORPUS / "crlf.conf"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # .gitattributes keeps it so
    config, warnings = parse_keepalived(raw.decode(), str(path))
    [vs] = config.virtual_servers
    assert (vs.address, vs.port, vs.health_check.check_type, vs.health_check.http_path) == ("192.0.2.120", 443, "https", "/health")
    assert [rs.address for rs in vs.real_servers] == ["10.0.0.121"]
    assert warnings == [f"{path}:1: byte order mark at the start of the file ignored"]


def test_a_no_break_space_is_read_as_a_space_with_a_warning_naming_the_line():
    config, warnings = read("tabs_nbsp.conf")
    [vs] = config.virtual_servers
    assert (vs.scheduler, [rs.weight for rs in vs.real_servers]) == ("wlc", [2, 2])
    assert says(warnings, "tabs_nbsp.conf") == ["4: a no-break space (U+00A0) read as a space"]


def test_braces_on_their_own_line_or_without_a_space_and_unindented_bodies():
    config, warnings = read("braces.conf")
    [vs] = config.virtual_servers
    assert [(rs.address, rs.weight) for rs in vs.real_servers] == [("10.0.0.141", 1), ("10.0.0.142", 1)]
    assert (vs.scheduler, vs.health_check.check_type, vs.health_check.timeout) == ("rr", "tcp", 3)
    assert warnings == []


def test_host_names_stand_where_keepalived_takes_names_and_are_refused_where_it_needs_an_address():
    config, warnings = read("fqdn.conf")
    web, dns = config.virtual_servers
    assert (web.health_check.http_host, web.health_check.sni) == ("www.example.com.", "portal.example.com")
    assert dns.health_check.dns_name == "ns1.example.com."
    assert says(warnings, "fqdn.conf") == ["2: global_defs not imported"]


def test_empty_strings_are_read_as_empty_values():
    config, warnings = read("empty_strings.conf")
    hc = config.virtual_servers[0].health_check
    assert (hc.http_host, hc.http_path, hc.http_body) == ("", "/", "")
    assert says(warnings, "empty_strings.conf") == ["2: global_defs not imported", "17: path is empty: checking /"]


def test_includes_are_read_relative_to_the_including_file_with_globs_and_findings_name_their_file():
    config, warnings = read("include_main.conf")
    web, smtp = config.virtual_servers
    assert [rs.address for rs in web.real_servers] == ["192.0.2.172", "192.0.2.173"]
    assert (smtp.address, smtp.port) == ("192.0.2.171", 25)
    inc = CORPUS / "include"
    assert warnings == [
        f"{CORPUS / 'include_main.conf'}:2: global_defs not imported",
        f"{inc / 'services' / 'web-real-servers.conf'}:6: bindto not imported",
        f"{inc / 'conf.d' / '20-smtp.conf'}:7: quorum 1 not imported (lbadmin has no quorum: the sorry server "
        "takes over when every real server is down)",
        f"{CORPUS / 'include_main.conf'}:7: include include/absent/*.conf: no file matches; nothing included",
    ]


def test_without_a_loader_an_include_is_a_warning_or_an_error_when_nothing_else_remains():
    text = (CORPUS / "include_main.conf").read_text()
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived(text, "keepalived.conf")
    assert str(caught.value) == ("keepalived.conf:6: no virtual_server to import, and include include/conf.d/*.conf "
                                 "not read: one uploaded file cannot bring the files it includes "
                                 "(manage.py import_keepalived PATH reads them)")
    config, warnings = parse_keepalived(text + (CORPUS / "braces.conf").read_text(), "keepalived.conf")
    assert len(config.virtual_servers) == 1
    assert "keepalived.conf:6: include include/conf.d/*.conf not read: one uploaded file cannot bring the files it " \
           "includes (manage.py import_keepalived PATH reads them)" in warnings


def test_an_include_that_matches_nothing_refuses_a_file_that_would_import_nothing():
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived("global_defs {\n}\ninclude conf.d/*.conf\n", "main.conf", loader=lambda pattern, base: [])
    assert str(caught.value) == "main.conf:3: no virtual_server to import, and include conf.d/*.conf matches no file"


def files(tree: dict[str, str]):
    """A loader over a dict of path -> text (patterns are plain names here)."""
    def load(pattern: str, including: str) -> list[tuple[str, str]]:
        return [(pattern, tree[pattern])] if pattern in tree else []
    return load


def test_an_include_loop_is_refused_at_the_include_that_closes_it():
    tree = {"a.conf": "include b.conf\n", "b.conf": "virtual_server 192.0.2.1 80 {\n}\ninclude a.conf\n"}
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived("include a.conf\n", "main.conf", loader=files(tree))
    assert str(caught.value) == "b.conf:3: include a.conf: an include loop (a.conf -> b.conf -> a.conf)"


def test_includes_nested_too_deep_are_refused():
    tree = {f"{n}.conf": f"include {n + 1}.conf\n" for n in range(50)}
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived("include 0.conf\n", "main.conf", loader=files(tree))
    assert str(caught.value) == "7.conf:1: include 8.conf: includes nested more than 8 deep"


def test_a_loader_refusal_is_an_error_at_the_include_line():
    from virtualservers.formats.keepalived import IncludeError

    def refuse(pattern, including):
        raise IncludeError(f"cannot read {pattern}: Permission denied")

    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived("virtual_server 192.0.2.1 80 {\n  include secret.conf\n}\n", "main.conf", loader=refuse)
    assert str(caught.value) == "main.conf:2: include secret.conf: cannot read secret.conf: Permission denied"


def test_a_setting_given_twice_warns_with_both_lines_and_the_later_wins():
    config, warnings = read("duplicates.conf")
    [vs] = config.virtual_servers
    assert (vs.scheduler, vs.health_check.interval, vs.real_servers[0].weight, vs.health_check.timeout) == ("wlc", 12, 4, 5)
    assert says(warnings, "duplicates.conf") == [
        "7: lvs_sched given again (first on line 4, 'lb_algo rr'): the later, 'lvs_sched wlc', is used",
        "8: delay_loop given again (first on line 3, 'delay_loop 6'): the later, 'delay_loop 12', is used",
        "11: weight given again (first on line 10, 'weight 1'): the later, 'weight 4', is used",
        "14: connect_timeout given again (first on line 13, 'connect_timeout 3'): the later, 'connect_timeout 5', is used",
    ]


def test_unknown_keywords_inside_known_blocks_are_warnings():
    config, warnings = read("unknown_keywords.conf")
    assert config.virtual_servers[0].health_check.check_type == "http"
    assert says(warnings, "unknown_keywords.conf") == [
        "7: syn_proxy: not a keepalived keyword in virtual_server; ignored",
        "8: laddr_group_name: not a keepalived keyword in virtual_server; ignored",
        "11: health_flavour: not a keepalived keyword in real_server; ignored",
        "16: response_time_max: not a keepalived keyword in url; ignored",
        "19: fancy_option: not a keepalived keyword in HTTP_GET; ignored",
    ]


def test_a_virtual_server_group_is_expanded_into_the_services_it_names():
    config, warnings = read("virtual_server_group.conf")
    assert [(vs.name, vs.address, vs.port, vs.fwmark) for vs in config.virtual_servers] == [
        ("192.0.2.190-80", "192.0.2.190", 80, None), ("192.0.2.191-80", "192.0.2.191", 80, None),
        ("192.0.2.192-80", "192.0.2.192", 80, None), ("192.0.2.193-80", "192.0.2.193", 80, None),
        ("fwmark-9", "0.0.0.0", 80, 9),
    ]
    for vs in config.virtual_servers:
        assert (vs.persistent, vs.forwarding, [rs.address for rs in vs.real_servers]) == (50, "direct", ["192.0.2.195"])
        assert (vs.health_check.check_type, vs.health_check.http_path) == ("http", "/testurl/test.jsp")
    assert "8: virtual_server group WEB_VIPS expanded into 5 virtual servers (192.0.2.190-80, 192.0.2.191-80, " \
           "192.0.2.192-80, 192.0.2.193-80, fwmark-9), each with its own copy of the real servers and check: " \
           "lbadmin has no groups" in says(warnings, "virtual_server_group.conf")
    # Warnings from the group's body come once, not once per service.
    assert len(says(warnings, "virtual_server_group.conf")) == len(set(warnings)) == 4


@pytest.mark.parametrize("entry, message", [
    ("192.0.2.1-300 80", "192.0.2.1-300: not an address range such as 192.0.2.10-20"),
    ("192.0.2.9-3 80", "192.0.2.9-3: the range ends before it starts"),
    ("10.0.0.0-10.0.4.0 80", "10.0.0.0-10.0.4.0: 1025 addresses; lbadmin makes one virtual server per address and imports at most 256 from one range"),
    ("www.example.com 80", "virtual_server_group: 'www.example.com' is a host name; keepalived (and lbadmin) need an IP address here: write the address it resolves to"),
])
def test_a_group_entry_lbadmin_cannot_expand_is_refused_with_its_line(entry, message):
    text = f"virtual_server_group G {{\n  {entry}\n}}\nvirtual_server group G {{\n  real_server 192.0.2.2 80 {{\n  }}\n}}\n"
    with pytest.raises(KeepalivedError) as caught:
        parse_keepalived(text)
    assert str(caught.value) == f"keepalived.conf:2: {message}"


def test_group_ranges_count_in_the_last_octet_or_the_last_ipv6_group_in_hex():
    text = ("virtual_server_group G {\n  ae00::8-b 80\n  ae00::20 0\n}\n"
            "virtual_server group G {\n  real_server ae00::100 80 {\n  }\n}\n")
    config, warnings = parse_keepalived(text)
    assert [vs.address for vs in config.virtual_servers] == ["ae00::8", "ae00::9", "ae00::a", "ae00::b"]
    assert "keepalived.conf:3: ae00::20: a group entry without a port (all ports) has no equivalent; not imported" in warnings


def test_a_udp_check_without_payload_imports_as_a_bare_udp_check():
    config, _ = read("udp_check.conf")
    hc = config.virtual_servers[0].health_check
    assert (config.virtual_servers[0].protocol, hc.check_type, hc.send, hc.expect, hc.fall) == ("udp", "udp", "", "", 4)


def test_old_and_new_keyword_spellings_read_the_same():
    config, _ = read("old_and_new_keywords.conf")
    old, new = config.virtual_servers
    assert (old.scheduler, old.forwarding, old.health_check.fall) == ("wlc", "direct", 4)
    assert old.health_check == new.health_check and (new.scheduler, new.forwarding) == ("wlc", "direct")


def test_ssl_get_with_digests_imports_its_first_url_without_the_digest():
    config, warnings = read("ssl_get_digest.conf")
    hc = config.virtual_servers[0].health_check
    assert (hc.check_type, hc.http_path, hc.verify_tls) == ("https", "/testurl/test.jsp", False)
    assert "14: digest not imported (lbadmin does not compare an MD5 of the page: it checks the status code, " \
           "and a regex when there is one)" in says(warnings, "ssl_get_digest.conf")


def test_several_checkers_on_one_real_server_keep_the_strongest_and_say_so():
    config, warnings = read("several_checkers.conf")
    assert config.virtual_servers[0].health_check.check_type == "http"
    assert says(warnings, "several_checkers.conf") == [
        "7: 3 checkers on this real server (keepalived needs all of them up); lbadmin has one check per virtual "
        "server: HTTP_GET (line 12) imported, not TCP_CHECK (line 9), PING_CHECK (line 19)",
    ]


def test_quorum_and_its_companions_are_warnings_that_say_what_lbadmin_does_instead():
    config, warnings = read("quorum.conf")
    [vs] = config.virtual_servers
    assert [(rs.port, rs.check_port) for rs in vs.real_servers] == [(8080, 80), (8080, 80)]
    assert vs.health_check.initial_state == "down"  # alpha
    assert [w.split(":", 1)[0] for w in says(warnings, "quorum.conf")] == ["9", "10", "11", "12", "13"]


def test_inhibit_on_failure_on_the_real_servers_quiesces_the_virtual_server():
    config, _ = read("inhibit_on_failure.conf")
    assert config.virtual_servers[0].quiesce_server is True


def test_a_sorry_server_with_or_without_a_port():
    config, _ = read("sorry_server.conf")
    with_port, without = config.virtual_servers
    assert (with_port.sorry_server, with_port.sorry_port) == ("10.0.0.239", 8080)
    assert (without.sorry_server, without.sorry_port) == ("10.0.0.239", None)


def test_a_misc_check_program_outside_the_program_directory_becomes_a_connect_check():
    config, warnings = read("misc_check.conf")
    hc = config.virtual_servers[0].health_check
    assert (hc.check_type, hc.send_program, hc.timeout) == ("tcp", "", 5)
    assert says(warnings, "misc_check.conf") == [
        "11: MISC_CHECK program /usr/local/bin/script.sh is outside lbadmin's check program directory "
        "/usr/local/lib/lbadmin/checks: imported as a TCP connect check to each real server's port instead; to "
        "check as keepalived did, copy the program there and choose it on the virtual server's health check",
    ]
    kept, _ = parse_keepalived((CORPUS / "misc_check.conf").read_text(), program_dir="/usr/local/bin")
    assert kept.virtual_servers[0].health_check.send_program == "/usr/local/bin/script.sh %h arg2"


def test_a_misc_check_on_a_udp_service_becomes_a_udp_check():
    text = ("virtual_server 192.0.2.1 53 {\n protocol UDP\n real_server 192.0.2.2 53 {\n"
            "  MISC_CHECK {\n   misc_path /opt/dns_check\n  }\n }\n}\n")
    config, warnings = parse_keepalived(text, program_dir=PROGRAMS)
    assert config.virtual_servers[0].health_check.check_type == "udp"
    assert "imported as a UDP check (no payload)" in warnings[0]


def test_an_smtp_check_waits_for_the_greeting():
    config, warnings = read("smtp_check.conf")
    hc = config.virtual_servers[0].health_check
    assert (hc.check_type, hc.send, hc.expect, hc.timeout, hc.fall) == ("send_expect", "", "220", 10, 3)


# --- fuzz: bad input is a KeepalivedError, never a traceback ------------------------------

from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from([
    "virtual_server", "virtual_server_group", "group", "G", "fwmark", "real_server", "192.0.2.1", "::1",
    "192.0.2.1-9", "80", "0", "-1", "99999", "{", "}", '"', '""', "#", "!", "\\#", "\n", "\r\n", " ", "\t",
    "\u00a0", "\ufeff", "include", "x.conf", "lb_kind", "FNAT", "DR", "lb_algo", "rr", "TCP_CHECK", "HTTP_GET",
    "SMTP_CHECK", "MISC_CHECK", "misc_path", "/bin/x", "url", "path", "", "delay_loop", "1.5", "weight",
    "protocol", "UDP", "sorry_server", "persistence_granularity", "inet6", "ip_family", "quorum",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=60).map(" ".join), st.text(max_size=40))
def test_any_text_is_read_or_refused_with_a_line_never_a_traceback(text, noise):
    tree = {"x.conf": text + noise}
    for candidate in (text, text + noise):
        try:
            config, warnings = parse_keepalived(candidate, "k.conf", loader=files(tree), program_dir=PROGRAMS)
        except KeepalivedError as exc:
            assert re.match(r"\S+:\d+: ", str(exc))
        else:
            assert all(re.match(r"\S+:\d+: ", w) for w in warnings)


def test_it_reads_scheduler_flags_in_both_spellings_and_warns_of_ones_the_scheduler_ignores():
    text = ("virtual_server 192.0.2.10 80 {\n  lb_algo mh\n  mh-port\n  flag-1\n  lb_kind DR\n"
            "  real_server 192.0.2.11 80 {\n    TCP_CHECK {\n    }\n  }\n}\n"
            "virtual_server 192.0.2.10 443 {\n  lb_algo rr\n  sh-port\n  lb_kind DR\n"
            "  real_server 192.0.2.11 443 {\n    TCP_CHECK {\n    }\n  }\n}\n")
    config, report = parse_keepalived(text, "flags.conf")
    mh, rr = config.virtual_servers
    assert mh.sched_flags == "mh-fallback,mh-port" and rr.sched_flags == ""
    assert report == ["flags.conf:13: sh-port not imported: the rr scheduler reads no such flag (only sh and mh take flags)"]
    again, _ = parse_keepalived(render_keepalived(config))
    assert [vs.sched_flags for vs in again.virtual_servers] == ["mh-fallback,mh-port", ""]
