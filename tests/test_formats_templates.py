"""Templates: the Exchange 2010 CAS set from the seed article, a web farm, DNS."""

from __future__ import annotations

import pytest

from virtualservers.formats.config import Config, config_problems
from virtualservers.formats.lvscf import parse_lvscf, render_lvscf
from virtualservers.formats.templates import (
    dns_udp,
    exchange_2010_cas,
    merge,
    parse_real_servers,
    service_names,
    web_farm,
)


def test_exchange_2010_cas_builds_the_five_services_of_the_article():
    servers = exchange_2010_cas("Exchange", "192.0.2.50", "seth0:1", ["192.0.2.21", "192.0.2.22"])
    assert [(vs.name, vs.port, vs.persistent) for vs in servers] == [
        ("Exchange-443", 443, 14400), ("Exchange-80", 80, 300), ("Exchange-135", 135, 300),
        ("Exchange-7575", 7575, 300), ("Exchange-7576", 7576, 300),
    ]
    for vs in servers:
        assert (vs.address, vs.device, vs.vip_nmask) == ("192.0.2.50", "seth0:1", "255.255.255.255")
        assert (vs.forwarding, vs.scheduler, vs.pmask, vs.protocol) == ("direct", "rr", "255.255.255.255", "tcp")
        assert [(rs.name, rs.address) for rs in vs.real_servers] == [("CAS1", "192.0.2.21"), ("CAS2", "192.0.2.22")]
    owa = servers[0].health_check
    assert (owa.check_type, owa.http_method, owa.http_path, owa.http_body, owa.verify_tls) == ("https", "GET", "/owa", "utlook", False)
    assert all(vs.health_check.check_type == "tcp" for vs in servers[1:])
    assert config_problems(Config(virtual_servers=servers)) == []


def test_exchange_2010_cas_works_for_ipv6_with_a_host_persistence_mask():
    servers = exchange_2010_cas("EX6", "2001:db8::50", "eth0", ["2001:db8::21"], vip_nmask="64")
    assert {(vs.vip_nmask, vs.pmask) for vs in servers} == {("64", "128")}


def test_exchange_2010_cas_except_its_https_check_fits_in_lvs_cf():
    servers = exchange_2010_cas("EX", "192.0.2.50", "eth0:1", ["192.0.2.21"])
    config = Config(virtual_servers=servers[1:])
    assert parse_lvscf(render_lvscf(config))[0].virtual_servers[0].persistent == 300


@pytest.mark.parametrize("args, message", [
    (("EX", "192.0.2.300", "eth0", ["192.0.2.21"]), "'192.0.2.300' is not a valid IP address"),
    (("EX", "192.0.2.50", "eth0", []), "at least one real server address is needed"),
    (("EX", "192.0.2.50", "eth0", ["2001:db8::1"]), "real server address 2001:db8::1 is IPv6"),
    (("EX", "192.0.2.50", "eth 0", ["192.0.2.21"]), "not a valid device name"),
    (("EX!", "192.0.2.50", "eth0", ["192.0.2.21"]), "not a valid name"),
])
def test_exchange_2010_cas_refuses_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        exchange_2010_cas(*args)


def test_web_farm_builds_http_and_https_with_http_checks():
    http, https = web_farm("shop", "192.0.2.80", "eth0:1", ["192.0.2.81", "192.0.2.82"],
                           http_path="/healthz", http_host="shop.example.com")
    assert (http.name, http.port, http.health_check.check_type) == ("shop-http", 80, "http")
    assert (https.name, https.port, https.health_check.check_type) == ("shop-https", 443, "https")
    assert https.health_check.sni == "shop.example.com" and http.health_check.sni == ""
    assert {vs.health_check.http_path for vs in (http, https)} == {"/healthz"}
    assert [rs.name for rs in http.real_servers] == ["web1", "web2"]


def test_dns_udp_builds_udp_and_tcp_53_with_dns_checks():
    udp, tcp = dns_udp("ns", "192.0.2.53", "eth0:2", ["192.0.2.54"], dns_name="example.com", dns_type="A")
    assert [(vs.name, vs.protocol, vs.port) for vs in (udp, tcp)] == [("ns-dns-udp", "udp", 53), ("ns-dns-tcp", "tcp", 53)]
    assert {(vs.health_check.check_type, vs.health_check.dns_name, vs.health_check.dns_type) for vs in (udp, tcp)} == {
        ("dns", "example.com", "A")
    }
    with pytest.raises(ValueError, match="unknown DNS record type"):
        dns_udp("ns", "192.0.2.53", "eth0", ["192.0.2.54"], dns_type="XYZ")


def test_real_servers_are_entered_once_with_or_without_names():
    assert parse_real_servers("CAS1 192.0.2.21\nCAS2 192.0.2.22") == [("CAS1", "192.0.2.21"), ("CAS2", "192.0.2.22")]
    assert parse_real_servers("192.0.2.21, 192.0.2.22 2001:db8::1") == [
        ("", "192.0.2.21"), ("", "192.0.2.22"), ("", "2001:db8::1")]
    assert parse_real_servers("192.0.2.300") == [("", "192.0.2.300")]  # refused later, as an address
    with pytest.raises(ValueError, match="real server 'CAS1' has no address"):
        parse_real_servers("CAS1 CAS2 192.0.2.22")
    with pytest.raises(ValueError, match="given twice"):
        exchange_2010_cas("EX", "192.0.2.50", "eth0", [("CAS1", "192.0.2.21"), ("CAS1", "192.0.2.22")])


def test_the_names_the_help_gives_are_the_names_made():
    for template, build, args in (("exchange", exchange_2010_cas, ()), ("web", web_farm, ()), ("dns", dns_udp, ())):
        servers = build("P", "192.0.2.50", "eth0", ["192.0.2.21"], *args)
        assert [vs.name for vs in servers] == service_names(template, "P")


def test_a_check_is_chosen_per_service_among_those_offered():
    servers = exchange_2010_cas("EX", "192.0.2.50", "eth0", ["192.0.2.21"], checks={"443": "tcp", "80": "http"})
    assert [vs.health_check.check_type for vs in servers] == ["tcp", "http", "tcp", "tcp", "tcp"]
    with pytest.raises(ValueError, match="cannot be checked by 'owa'"):
        exchange_2010_cas("EX", "192.0.2.50", "eth0", ["192.0.2.21"], checks={"135": "owa"})


def test_merge_adds_the_missing_and_reports_what_differs_without_changing_it():
    first = exchange_2010_cas("Exchange", "192.0.2.50", "eth0", [("CAS1", "192.0.2.21")], checks={"443": "tcp"})[0]
    first.directors = ["lb1"]
    template = exchange_2010_cas("EXCHB", "192.0.2.50", "eth0", [("CAS1", "192.0.2.21"), ("CAS2", "192.0.2.22")])
    merged = merge([first], template)
    assert [vs.name for vs in merged.servers] == ["EXCHB-135", "EXCHB-7575", "EXCHB-7576", "EXCHB-80", "Exchange-443"]
    kept = merged.servers[-1]
    assert kept.health_check.check_type == "tcp" and [rs.name for rs in kept.real_servers] == ["CAS1", "CAS2"]
    assert merged.matched == {"EXCHB-443": "Exchange-443"}
    assert any("check_type tcp → https" in line for line in merged.differing["Exchange-443"])

    replaced = merge([first], template, replace={"Exchange-443"}).servers[-1]
    assert (replaced.name, replaced.directors, replaced.health_check.check_type) == ("Exchange-443", ["lb1"], "https")


def test_merge_numbers_a_real_server_whose_name_is_taken_at_another_address():
    existing = exchange_2010_cas("EX", "192.0.2.50", "eth0", [("CAS2", "192.0.2.99")])[0]
    template = exchange_2010_cas("EX", "192.0.2.50", "eth0", [("CAS2", "192.0.2.22")])
    kept = next(vs for vs in merge([existing], template).servers if vs.name == "EX-443")
    assert [(rs.name, rs.address) for rs in kept.real_servers] == [("CAS2", "192.0.2.99"), ("CAS2-2", "192.0.2.22")]
