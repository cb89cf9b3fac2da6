"""lvs.cf: the corpus, the refusals, escapes, service names and the round trip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtualservers.formats.config import Config, RealServerConfig, VirtualServerConfig, HealthCheckConfig
from virtualservers.formats.lvscf import (
    LvsCfError,
    LvsCfUnsupported,
    WELL_KNOWN_PORTS,
    lvscf_report,
    parse_lvscf,
    quote,
    render_lvscf,
    service_port,
)
from tests.test_formats_strategies import lvscf_configs

CORPUS = Path(__file__).parent / "corpus" / "lvscf"
GOOD = sorted(CORPUS.glob("*.cf"))
BROKEN = sorted((CORPUS / "broken").glob("*.cf"))


def corpus_hosts() -> dict[str, str]:
    """The corpus's host names (tests/corpus/lvscf/hosts, in /etc/hosts form)."""
    hosts = {}
    for line in (CORPUS / "hosts").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            address, name = line.split()
            hosts[name] = address
    return hosts


def resolve_corpus_host(name: str) -> str:
    """The tests' resolver: the corpus's hosts table, never DNS."""
    try:
        return corpus_hosts()[name]
    except KeyError:
        raise OSError(f"[Errno -2] Name or service not known: {name}") from None


def read_text(path: Path) -> str:
    """A corpus file as the importer gets it: bytes decoded, line endings untouched."""
    return path.read_bytes().decode("utf-8")


def declared_warnings(path: Path) -> list[str]:
    """The '# warning: LINE: message' lines a corpus file declares, as parse_lvscf words them."""
    return [f"{path.name}:{m.group(1)}" for m in re.finditer(r"^# warning: (.*?)\r?$", read_text(path), re.M)]


def load(name: str) -> Config:
    config, warnings = parse_lvscf(read_text(CORPUS / name), path=name, resolve=resolve_corpus_host)
    assert warnings == declared_warnings(CORPUS / name)
    return config


def vs_named(config: Config, name: str) -> VirtualServerConfig:
    return next(vs for vs in config.virtual_servers if vs.name == name)


def rs_named(vs: VirtualServerConfig, name: str) -> RealServerConfig:
    return next(rs for rs in vs.real_servers if rs.name == name)


# --- the corpus: every good file reads, and reads as intended ----------------------------


def test_the_corpus_has_the_files_the_brief_asks_for():
    assert {p.name for p in GOOD} >= {
        "piranha_example.cf", "direct_routing.cf", "nat_router.cf", "tunnel.cf", "fwmark.cf",
        "udp.cf", "persistence.cf", "send_expect.cf", "regex_expect.cf", "inactive.cf",
        "sorry_server.cf", "all_globals.cf",
    }
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_it_reads_every_good_corpus_file_and_renders_it_back_unchanged(path):
    config, _ = parse_lvscf(read_text(path), path=path.name, resolve=resolve_corpus_host)
    assert config.virtual_servers
    assert parse_lvscf(render_lvscf(config)) == (config, [])


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_each_good_corpus_file_says_where_such_a_file_is_found_and_gives_exactly_the_warnings_it_declares(path):
    first = read_text(path).lstrip("\ufeff").splitlines()[0]
    assert first.startswith("# ") and len(first) > 30, f"{path.name}: the first line says where such a file is found"
    _, warnings = parse_lvscf(read_text(path), path=path.name, resolve=resolve_corpus_host)
    assert warnings == declared_warnings(path)


def test_it_reads_the_piranha_example():
    config = load("piranha_example.cf")
    c, r = config.cluster, config.redundancy
    assert (c.serial_no, c.primary, c.service, c.network, c.debug_level) == (12, "192.0.2.5", "lvs", "direct", "NONE")
    assert (r.backup_active, r.backup, r.heartbeat, r.heartbeat_port) == (True, "192.0.2.6", True, 539)
    assert (r.keepalive, r.deadtime, r.monitor_links, r.syncdaemon) == (6, 18, True, True)
    [vs] = config.virtual_servers
    assert (vs.name, vs.active, vs.address, vs.device, vs.vip_nmask) == ("Exchange-443", True, "192.0.2.50", "seth0:1", "255.255.255.0")
    assert (vs.port, vs.protocol, vs.scheduler, vs.persistent, vs.pmask) == (443, "tcp", "rr", 14400, "255.255.255.255")
    assert (vs.fwmark, vs.forwarding, vs.quiesce_server, vs.load_monitor) == (None, "", False, "none")
    hc = vs.health_check
    assert hc.check_type == "program"
    assert hc.send_program == "/usr/local/bin/lvs_check_owa %h %p"
    assert (hc.expect, hc.use_regex, hc.interval, hc.timeout) == ("OK", False, 30, 30)
    assert (hc.rise, hc.fall) == (1, 1)  # reentry 15 / timeout 30, rounded up; nanny: first failure
    assert [(rs.name, rs.address, rs.port, rs.weight, rs.admin_state) for rs in vs.real_servers] == [
        ("CAS1", "192.0.2.21", None, 1, "enabled"),
        ("CAS2", "192.0.2.22", None, 1, "enabled"),
    ]


def test_it_reads_direct_routing_with_gui_defaults_for_timeout_and_reentry():
    config = load("direct_routing.cf")
    assert config.cluster.network == "direct"
    vs = vs_named(config, "web")
    assert (vs.address, vs.device, vs.port, vs.scheduler) == ("192.0.2.80", "eth0:1", 80, "wlc")
    assert vs.health_check.check_type == "tcp"
    assert (vs.health_check.interval, vs.health_check.rise) == (6, 3)  # ceil(15 / 6)
    assert [rs.weight for rs in vs.real_servers] == [1, 3]


def test_it_reads_nat_with_a_nat_router_and_real_server_ports_that_differ():
    config = load("nat_router.cf")
    c, r = config.cluster, config.redundancy
    assert (c.network, c.nat_router_ip, c.nat_router_device, c.nat_nmask) == ("nat", "198.51.100.1", "eth1:1", "255.255.255.0")
    assert (c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout) == (900, 120, 300)
    assert (c.primary_private, r.backup_private, r.keepalive, r.deadtime) == ("198.51.100.5", "198.51.100.6", 2, 10)
    vs = vs_named(config, "app")
    assert [(rs.name, rs.port, rs.weight) for rs in vs.real_servers] == [
        ("app1", 8080, 10), ("app2", 8081, 5), ("app3", None, 1),
    ]
    assert (vs.health_check.interval, vs.health_check.rise) == (5, 4)


def test_it_reads_tunnelling_and_a_service_name_port():
    config = load("tunnel.cf")
    assert config.cluster.network == "tunnel"
    vs = vs_named(config, "mail")
    assert (vs.port, vs.scheduler, vs.device) == (25, "lc", "eth0:2")
    assert rs_named(vs, "remote2").weight == 2
    assert rs_named(vs, "remote1").weight == 1


def test_it_reads_firewall_marks():
    config = load("fwmark.cf")
    shop, media = vs_named(config, "shop"), vs_named(config, "media")
    assert (shop.fwmark, shop.address, shop.persistent, shop.pmask) == (80, "192.0.2.60", 1800, "255.255.255.255")
    assert (media.fwmark, media.port, media.scheduler, media.persistent) == (4294967295, 443, "sh", 0)


def test_it_reads_udp_services():
    config = load("udp.cf")
    dns, syslog = vs_named(config, "dns"), vs_named(config, "syslog")
    assert (dns.protocol, dns.port, dns.scheduler) == ("udp", 53, "rr")
    assert (syslog.protocol, syslog.port, syslog.address) == ("udp", 514, "192.0.2.53")
    assert [rs.address for rs in dns.real_servers] == ["192.0.2.54", "192.0.2.55"]


def test_it_reads_persistence_netmasks():
    config = load("persistence.cf")
    portal, vpn = vs_named(config, "portal"), vs_named(config, "vpn")
    assert (portal.port, portal.persistent, portal.pmask) == (443, 3600, "255.255.255.0")
    assert (vpn.protocol, vpn.persistent, vpn.pmask) == ("udp", 86400, "255.255.255.255")


def test_it_decodes_quoted_send_strings_with_escapes():
    config = load("send_expect.cf")
    http = vs_named(config, "http").health_check
    assert http.check_type == "send_expect"
    assert http.send == "GET /health HTTP/1.0\r\nHost: www.example.com\r\n\r\n"
    assert (http.expect, http.interval, http.rise) == ("HTTP/1.0 200", 10, 3)
    smtp = vs_named(config, "smtp").health_check
    assert (smtp.send, smtp.expect) == ("QUIT\r\n", "220")
    quoted = vs_named(config, "quoted").health_check
    assert quoted.send == 'say "hi" # not a comment\tC:\\path\\'
    assert quoted.expect == "*"


def test_it_keeps_regex_backslashes_as_written():
    hc = vs_named(load("regex_expect.cf"), "api").health_check
    assert hc.use_regex is True
    assert hc.expect == r"HTTP/1\.[01] 2\d\d"
    assert re.match(hc.expect, "HTTP/1.1 204 No Content")
    assert hc.send.endswith("Connection: close\r\n\r\n")
    assert (hc.interval, hc.rise) == (3, 4)


def test_it_reads_inactive_servers_inactive_virtuals_and_weight_zero():
    config = load("inactive.cf")
    live, parked = vs_named(config, "live"), vs_named(config, "parked")
    assert (live.active, parked.active) == (True, False)
    assert [(rs.name, rs.admin_state, rs.weight) for rs in live.real_servers] == [
        ("on", "enabled", 5), ("off", "disabled", 5), ("zero", "enabled", 0),
    ]


def test_it_reads_a_sorry_server_quiesce_and_a_send_program():
    vs = vs_named(load("sorry_server.cf"), "store")
    assert (vs.sorry_server, vs.sorry_port, vs.quiesce_server) == ("192.0.2.149", None, True)
    assert vs.health_check.check_type == "program"
    assert vs.health_check.send_program == "/usr/local/bin/check_store --host %h --port %p"


def test_it_reads_every_global_key():
    config, warnings = parse_lvscf(read_text(CORPUS / "all_globals.cf"), path="all_globals.cf")
    c, r = config.cluster, config.redundancy
    assert (c.serial_no, c.service, c.primary, c.primary_private) == (42, "lvs", "192.0.2.5", "198.51.100.5")
    assert (c.network, c.nat_router_ip, c.nat_router_device, c.nat_nmask) == ("nat", "198.51.100.254", "eth1:0", "255.255.255.0")
    assert (c.rsh_command, c.debug_level, c.hard_shutdown) == ("rsh", "2", True)
    assert (c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout) == (7200, 60, 120)
    assert c.active_cmd == "/usr/local/sbin/became-active --notify ops"
    assert (c.inactive_cmd, c.ipvsadm_path) == ("/usr/local/sbin/became-inactive", "/usr/sbin/ipvsadm")
    assert (r.backup_active, r.backup, r.backup_private, r.heartbeat) == (False, "192.0.2.6", "198.51.100.6", False)
    assert (r.heartbeat_port, r.keepalive, r.deadtime, r.monitor_links) == (1539, 3, 9, False)
    assert (r.syncdaemon, r.syncd_iface, r.syncd_id) == (True, "bond0.100", 7)
    vs = vs_named(config, "loaded")
    assert (vs.scheduler, vs.load_monitor) == ("lblcr", "none")
    assert [rs.name for rs in vs.real_servers] == ["l1"]
    assert warnings == ["all_globals.cf:38: load_monitor 'rup' not supported, skipped"]


# --- refusals: every broken file names its line ------------------------------------------


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_it_refuses_each_broken_file_at_the_expected_line(path):
    text = path.read_text()
    expected = re.match(r"# expect: (\d+): (.*)", text)
    assert expected, f"{path.name} has no '# expect: LINE: message' first line"
    with pytest.raises(LvsCfError) as caught:
        parse_lvscf(text, path=f"broken/{path.name}", resolve=resolve_corpus_host)
    assert str(caught.value) == f"broken/{path.name}:{expected.group(1)}: {expected.group(2)}"
    assert caught.value.line == int(expected.group(1))


def test_it_uses_lvs_cf_as_the_default_path_in_errors():
    with pytest.raises(LvsCfError, match=r"^lvs\.cf:1: unknown key 'nonsense'$"):
        parse_lvscf("nonsense = 1\n")


def test_it_refuses_the_whole_file_when_only_the_last_line_is_wrong():
    good = (CORPUS / "direct_routing.cf").read_text()
    with pytest.raises(LvsCfError):
        parse_lvscf(good + "bogus = 1\n")


# --- lexing details ----------------------------------------------------------------------


def test_it_resolves_service_names_from_the_system_and_falls_back_to_its_own_table():
    assert service_port("https") == 443
    assert service_port("8080") == 8080

    def no_services_file(name: str) -> int:
        raise OSError("service/proto not found")

    assert service_port("http", lookup=no_services_file) == 80
    assert service_port("smtp", lookup=no_services_file) == 25
    assert {"http", "https", "smtp", "domain", "ssh"} <= set(WELL_KNOWN_PORTS)
    with pytest.raises(ValueError, match="not a port number or a known service name"):
        service_port("gopher-plus-plus", lookup=no_services_file)


def test_it_reads_single_quoted_values_and_unknown_escapes_as_written():
    text = "virtual v {\n address = 192.0.2.1\n send = 'a\\'b\\x'\n}\n"
    [vs] = parse_lvscf(text)[0].virtual_servers
    assert vs.health_check.send == "a'b\\x"


def test_it_refuses_text_after_a_closing_quote():
    with pytest.raises(LvsCfError, match=r"lvs\.cf:3: send: unexpected text right after a closing quote"):
        parse_lvscf('virtual v {\n address = 192.0.2.1\n send = "a"b\n}\n')


def test_it_quotes_strings_so_they_read_back_exactly():
    for value in ['', 'plain', 'tab\there', 'cr\r\nlf', 'quote"d', 'back\\slash', 'end\\', '\\n literal', "it's",
                  'a backslash before a CR \\\r', 'and before a tab \\\t']:
        text = f"virtual v {{\n address = 192.0.2.1\n send = {quote(value)}\n}}\n"
        assert parse_lvscf(text)[0].virtual_servers[0].health_check.send == value


# --- rendering ---------------------------------------------------------------------------


def test_it_renders_in_the_piranha_gui_style():
    text = render_lvscf(load("piranha_example.cf"))
    assert "virtual Exchange-443 {\n     active = 1\n     address = 192.0.2.50 seth0:1\n" in text
    assert '     send_program = "/usr/local/bin/lvs_check_owa %h %p"\n     expect = "OK"\n' in text
    assert "     server CAS1 {\n         address = 192.0.2.21\n         active = 1\n         weight = 1\n     }\n" in text
    assert text.startswith("serial_no = 12\nprimary = 192.0.2.5\nservice = lvs\n")
    keys = {m.group(1) for m in re.finditer(r"^\s*([a-z_]+) = ", text, re.M)}
    assert keys <= {
        "serial_no", "primary", "primary_private", "service", "backup_active", "backup", "backup_private",
        "heartbeat", "heartbeat_port", "keepalive", "deadtime", "network", "nat_router", "nat_nmask",
        "debug_level", "monitor_links", "syncdaemon", "syncd_iface", "syncd_id", "tcp_timeout",
        "tcpfin_timeout", "udp_timeout", "hard_shutdown", "rsh_command", "active_cmd", "inactive_cmd",
        "ipvsadm", "active", "address", "vip_nmask", "sorry_server", "fwmark", "port", "persistent",
        "pmask", "send_program", "send", "expect", "use_regex", "load_monitor", "scheduler", "protocol",
        "timeout", "reentry", "quiesce_server", "weight",
    }


def _mixed_config() -> Config:
    return Config(virtual_servers=[
        VirtualServerConfig(name="v4", address="192.0.2.1", real_servers=[RealServerConfig("r", "192.0.2.2")]),
        VirtualServerConfig(name="v6", address="2001:db8::1", real_servers=[RealServerConfig("r", "2001:db8::2")]),
        VirtualServerConfig(name="sctp", address="192.0.2.3", protocol="sctp"),
    ])


def test_it_refuses_to_render_ipv6_and_sctp():
    with pytest.raises(LvsCfUnsupported) as caught:
        render_lvscf(_mixed_config())
    assert caught.value.reasons == [
        "virtual server 'v6' is IPv6 (lvs.cf has no IPv6)",
        "virtual server 'sctp' uses SCTP (lvs.cf has only tcp and udp)",
    ]


def test_it_can_skip_what_lvs_cf_cannot_express_and_says_so():
    text = render_lvscf(_mixed_config(), skip_unsupported=True)
    assert [vs.name for vs in parse_lvscf(text)[0].virtual_servers] == ["v4"]
    report = lvscf_report(_mixed_config())
    assert "skipped: virtual server 'v6' is IPv6 (lvs.cf has no IPv6)" in report
    assert "skipped: virtual server 'sctp' uses SCTP (lvs.cf has only tcp and udp)" in report


def test_it_reports_what_it_approximates():
    vs = VirtualServerConfig(
        name="web", address="192.0.2.1", sorry_server="192.0.2.9", sorry_port=8080, forwarding="tunnel",
        health_check=HealthCheckConfig(check_type="http", interval=5, timeout=2, fall=3),
        real_servers=[RealServerConfig("r1", "192.0.2.2", admin_state="draining")],
    )
    report = lvscf_report(Config(virtual_servers=[vs]))
    assert report == [
        "virtual server 'web': forwarding 'tunnel' differs from the global network 'nat' (lvs.cf has only the global one)",
        "virtual server 'web': sorry_port 8080 not written (lvs.cf sends the sorry server the virtual port)",
        "virtual server 'web': http check written as a plain TCP connect",
        "virtual server 'web': check interval 5 and timeout 2 differ; lvs.cf has one value, wrote 5",
        "virtual server 'web': fall 3 not written (nanny removes a server on its first failure)",
        "virtual server 'web': real server 'r1' is draining, written as inactive",
    ]
    assert lvscf_report(load("piranha_example.cf")) == []


def test_it_reports_check_targets_slow_start_and_directors_and_reads_back_their_defaults():
    vs = VirtualServerConfig(
        name="web", address="192.0.2.1", directors=["edge-1"],
        health_check=HealthCheckConfig(interval=6, timeout=6, fall=1, slow_start=30),
        real_servers=[RealServerConfig("r1", "192.0.2.2", check_address="198.51.100.2", check_port=8081)],
    )
    config = Config(virtual_servers=[vs])
    assert lvscf_report(config) == [
        "virtual server 'web': slow_start 30 s not written (nanny has no slow start)",
        "virtual server 'web': directors edge-1 not written (lvs.cf names no directors)",
        "virtual server 'web': real server 'r1' check_address 198.51.100.2 not written (nanny checks the server's own address)",
        "virtual server 'web': real server 'r1' check_port 8081 not written (nanny checks the server's own port)",
    ]
    text = render_lvscf(config)
    assert "198.51.100.2" not in text and "8081" not in text and "edge-1" not in text
    [back] = parse_lvscf(text)[0].virtual_servers
    assert (back.directors, back.health_check.slow_start) == ([], 0)
    assert (back.real_servers[0].check_address, back.real_servers[0].check_port) == ("", None)


@settings(max_examples=300, deadline=None)
@given(lvscf_configs())
def test_parse_of_render_gives_back_the_same_configuration(config):
    text = render_lvscf(config)
    parsed, warnings = parse_lvscf(text)
    assert warnings == []
    assert parsed == config
    assert lvscf_report(config) == []


def test_a_hostile_string_stays_one_value_and_cannot_add_a_directive():
    # What a compromised form or a hand-edited backup could hold: line breaks, a closing
    # brace, a quote and a whole second service, in every string lvs.cf carries.
    hostile = '"\n}\nvirtual evil {\n address = 203.0.113.66 eth0:9\n active = 1\n}\n# "'
    vs = VirtualServerConfig(name="web", address="192.0.2.80", port=80, real_servers=[
        RealServerConfig(name="rs1", address="192.0.2.81")],
        health_check=HealthCheckConfig(check_type="send_expect", send=hostile, expect=hostile))
    config = Config(virtual_servers=[vs])
    # Commands are refused on more than one line (validate.py); a quote and a brace remain.
    config.cluster.active_cmd = config.cluster.inactive_cmd = '/bin/true "} virtual evil { # \\" x'
    text = render_lvscf(config)
    assert "evil" not in [line.split()[1] for line in text.splitlines() if line.startswith("virtual ")]
    assert all(not line.lstrip().startswith("address = 203.0.113.66") for line in text.splitlines())
    parsed, warnings = parse_lvscf(text)
    assert [v.name for v in parsed.virtual_servers] == ["web"]
    assert parsed.virtual_servers[0].health_check.send == hostile
    assert parsed.cluster.active_cmd == config.cluster.active_cmd


# --- what Piranha accepts: read with its meaning, or a warning says what lbadmin did ------


def test_the_corpus_has_a_file_for_every_habit_and_every_kind_of_warning():
    assert {p.name for p in GOOD} >= {
        "piranha_sample.cf", "gui_unfilled_virtual.cf", "duplicate_keys.cf", "pmask_without_persistence.cf",
        "no_address.cf", "piranha_only_keys.cf", "odd_names.cf", "comments_after_values.cf", "crlf.cf",
        "tabs.cf", "nbsp.cf", "braces.cf", "unindented.cf", "fqdn_names.cf", "service_names.cf",
        "empty_send_expect.cf", "bom.cf",
    }
    assert b"\r\n" in (CORPUS / "crlf.cf").read_bytes() and "\u00a0" in read_text(CORPUS / "nbsp.cf")


def test_it_reads_piranhas_own_sample_with_warnings_for_what_lbadmin_has_no_place_for():
    config = load("piranha_sample.cf")
    c, r = config.cluster, config.redundancy
    assert (c.primary, c.primary_private, r.backup, r.backup_private) == ("207.175.44.150", "10.11.12.1", "207.175.44.196", "10.11.12.2")
    assert (r.backup_active, r.heartbeat_port, c.rsh_command, c.network, c.nat_router_ip, c.nat_router_device) == (
        True, 1050, "rsh", "nat", "192.168.10.100", "eth1:1")
    one, two = config.virtual_servers
    assert (one.name, one.fwmark, one.port, one.persistent, one.active) == ("server1", 100, 80, 60, True)
    assert (one.health_check.send, one.health_check.expect, one.health_check.interval, one.health_check.rise) == (
        "GET / HTTP/1.0\r\n\r\n", "HTTP", 5, 2)
    assert (two.name, two.active, two.port, two.health_check.check_type, two.health_check.send) == (
        "server2", False, 21, "send_expect", "\n")
    assert [rs.name for rs in two.real_servers] == ["Real1", "Real2"]  # the same names as server1's: other blocks


def test_a_virtual_server_the_gui_added_but_never_filled_imports_as_an_inactive_draft():
    config = load("gui_unfilled_virtual.cf")
    www, draft = config.virtual_servers
    assert (draft.name, draft.address, draft.active, draft.real_servers) == ("server_name", "0.0.0.0", False, [])
    assert [(rs.name, rs.address, rs.admin_state) for rs in www.real_servers] == [
        ("web1", "192.0.2.11", "enabled"), ("unnamed", "0.0.0.0", "disabled")]


def test_a_duplicate_key_names_both_lines_and_the_later_value_wins():
    config = load("duplicate_keys.cf")
    [vs] = config.virtual_servers
    assert (config.cluster.service, vs.health_check.interval, vs.real_servers[0].weight) == ("lvs", 3, 5)
    _, warnings = parse_lvscf("service = lvs\nservice = fos\n", "x.cf")
    assert warnings == ["x.cf:2: duplicate key 'service' (first set on line 1): the later value, on line 2, is used, as Piranha did"]
    assert parse_lvscf("service = lvs\nservice = fos\n")[0].cluster.service == "fos"


def test_pmask_without_persistence_is_dropped_with_a_warning():
    [vs] = load("pmask_without_persistence.cf").virtual_servers
    assert (vs.persistent, vs.pmask) == (0, "")


def test_blocks_without_an_address_are_skipped_and_the_rest_imports():
    [web] = load("no_address.cf").virtual_servers
    assert (web.name, [rs.name for rs in web.real_servers]) == ("web", ["w1"])


def test_every_piranha_only_key_is_read_and_reported_and_lbadmins_own_keep_piranhas_meaning():
    config = load("piranha_only_keys.cf")
    c, r = config.cluster, config.redundancy
    assert (r.monitor_links, c.rsh_command, c.hard_shutdown, r.syncd_iface, r.syncd_id) == (True, "ssh", True, "eth1", 3)
    assert (c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout) == (900, 120, 300)


def test_failover_blocks_are_skipped_whatever_their_values_and_service_fos_is_explained():
    text = ("service = fos\nfailover ftp {\n timeout = 0\n start_cmd = /etc/init.d/vsftpd start\n"
            " server a {\n  weight = x\n }\n}\nvirtual web {\n address = 192.0.2.1\n}\n")
    config, warnings = parse_lvscf(text, "f.cf")
    assert [vs.name for vs in config.virtual_servers] == ["web"]
    assert warnings[0].startswith("f.cf:1: service = fos: Piranha ran the failover blocks")
    assert warnings[1].startswith("f.cf:2: failover 'ftp' skipped: lbadmin has no failover services")


def test_names_lbadmin_cannot_hold_are_renamed_and_copies_get_a_number():
    config = load("odd_names.cf")
    assert [vs.name for vs in config.virtual_servers] == ["web-site", "web-site-2"]
    assert [rs.name for rs in config.virtual_servers[0].real_servers] == ["w1", "w1-2"]


def test_host_names_resolve_once_with_a_resolver_and_are_refused_without_one():
    config = load("fqdn_names.cf")
    assert (config.cluster.primary, config.redundancy.backup) == ("192.0.2.5", "192.0.2.6")
    [vs] = config.virtual_servers
    assert (vs.name, vs.address, [rs.address for rs in vs.real_servers]) == ("www.example.com", "192.0.2.80", ["192.0.2.11", "192.0.2.12"])
    with pytest.raises(LvsCfError, match=r"^lvs\.cf:1: primary: 'lvs1\.example\.com' is not a valid IP address$"):
        parse_lvscf("primary = lvs1.example.com\n")
    looked_up = []

    def counting(name):
        looked_up.append(name)
        return "192.0.2.9"
    parse_lvscf("primary = a.example\nbackup = a.example\n", resolve=counting)
    assert looked_up == ["a.example"]


def test_real_file_habits_read_the_same_as_the_plain_file():
    plain = load("direct_routing.cf")
    assert plain.virtual_servers
    for name in ("crlf.cf", "tabs.cf", "nbsp.cf", "braces.cf", "unindented.cf", "comments_after_values.cf", "bom.cf"):
        config = load(name)
        assert config.virtual_servers[0].address.startswith("192.0.2."), name
    assert load("nbsp.cf").virtual_servers[0].device == "eth0:1"  # the no-break space separated address and device
    quoted, bare, expect_only = load("empty_send_expect.cf").virtual_servers
    assert (quoted.health_check.check_type, bare.health_check.check_type) == ("tcp", "tcp")
    assert (expect_only.health_check.check_type, expect_only.health_check.expect) == ("send_expect", "220")
    ports = {vs.name: (vs.port, [rs.port for rs in vs.real_servers]) for vs in load("service_names.cf").virtual_servers}
    assert ports == {"web": (80, [8080]), "secure": (443, [None]), "mail": (25, [25])}


def test_a_no_break_space_inside_quotes_stays_part_of_the_string():
    text = 'virtual v {\n active = 1\n address = 192.0.2.1\n expect = "a\u00a0b"\n}\n'
    config, warnings = parse_lvscf(text)
    assert (config.virtual_servers[0].health_check.expect, warnings) == ("a\u00a0b", [])


def test_without_timeout_and_reentry_it_uses_what_piranhas_parser_gave():
    [vs] = parse_lvscf("virtual v {\n address = 192.0.2.1\n}\n")[0].virtual_servers
    assert (vs.health_check.interval, vs.health_check.rise) == (10, 18)  # lvsInitVirtualServer: 10 s, 180 s


# --- bad input never gives anything but LvsCfError ---------------------------------------

_PIECES = ["virtual", "server", "failover", "{", "}", "=", "#", '"', "'", "\\", "\u00a0", "\r", "\n", "\t", " ",
           "address", "192.0.2.1", "0.0.0.0", "eth0:1", "a.example", "[", "]", "dirs", "port", "http", "pmask",
           "255.255.255.0", "persistent", "primary", "service", "lvs", "fos", "weight", "timeout", "0", "1"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=40), st.booleans())
def test_any_text_either_imports_or_is_refused_with_its_line(pieces, resolves):
    def resolve(name):
        if resolves:
            return "192.0.2.7"
        raise OSError("no such host")
    try:
        config, warnings = parse_lvscf("".join(pieces), "fuzz.cf", resolve=resolve)
    except LvsCfError as exc:
        assert re.match(r"fuzz\.cf:\d+: ", str(exc))
    else:
        assert all(re.match(r"fuzz\.cf:\d+: ", w) for w in warnings)
        assert parse_lvscf(render_lvscf(config, skip_unsupported=True))[0].virtual_servers == config.virtual_servers


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(GOOD), st.data())
def test_a_corpus_file_with_a_line_mangled_imports_or_is_refused_with_its_line(path, data):
    lines = read_text(path).split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.sampled_from(["", "}", "{", lines[index] + " extra", lines[index].replace(" ", "\u00a0"),
                                              lines[index].replace("=", ""), lines[index] + ' "', "virtual x"]))
    try:
        parse_lvscf("\n".join(lines), "m.cf", resolve=resolve_corpus_host)
    except LvsCfError as exc:
        assert str(exc).startswith("m.cf:")


def test_a_block_without_an_active_line_is_inactive_as_piranha_read_it():
    # lvsconfig.c zeroes each virtual and server block; lvsd skips what is not active.
    text = ("virtual web {\n address = 192.0.2.80\n server w1 {\n  address = 192.0.2.81\n }\n"
            " server w2 {\n  address = 192.0.2.82\n  active = 1\n }\n}\n")
    config, warnings = parse_lvscf(text)
    [web] = config.virtual_servers
    assert not web.active
    assert [rs.admin_state for rs in web.real_servers] == ["disabled", "enabled"]
    assert warnings == ["lvs.cf:1: virtual 'web' and 1 more block(s) without an `active` line: imported inactive, "
                        "as Piranha read them (it ran only what says active = 1)"]
