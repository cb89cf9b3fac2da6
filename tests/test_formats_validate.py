"""Field validators shared by importers and forms: each refusal says what is wrong."""

from __future__ import annotations

import pytest

from virtualservers.formats import validate as v
from virtualservers.formats.config import (
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
    config_problems,
    effective_forwarding,
    format_path,
    column_fields,
    scalar_fields,
    validate_config,
    ConfigError,
)


@pytest.mark.parametrize("value", ["web", "Exchange-443", "a", "9x", "a.b_c-d", "x" * 64])
def test_it_accepts_valid_names(value):
    assert v.validate_name(value) == value


@pytest.mark.parametrize("value", ["", "-web", ".x", "has space", "a/b", "x" * 65, "é"])
def test_it_rejects_invalid_names(value):
    with pytest.raises(ValueError, match="is not a valid name"):
        v.validate_name(value)


def test_it_canonicalises_addresses_and_rejects_bad_ones():
    assert v.validate_ip("2001:DB8:0::1") == "2001:db8::1"
    assert v.validate_ip(" 192.0.2.1 ") == "192.0.2.1"
    for bad in ["192.0.2.300", "192.0.2", "www.example.com", "", "192.0.2.01"]:
        with pytest.raises(ValueError, match="is not a valid IP address"):
            v.validate_ip(bad)


def test_it_rejects_a_real_server_of_another_family():
    v.validate_same_family("192.0.2.1", "192.0.2.2")
    with pytest.raises(ValueError, match="real server address 2001:db8::2 is IPv6 but the virtual server address 192.0.2.1 is IPv4"):
        v.validate_same_family("192.0.2.1", "2001:db8::2")


@pytest.mark.parametrize("value, expected", [(1, 1), ("65535", 65535), (" 80 ", 80)])
def test_it_accepts_ports(value, expected):
    assert v.validate_port(value) == expected


@pytest.mark.parametrize("value", [0, 65536, "-1", "80x", "", True, 8.0])
def test_it_rejects_ports_out_of_range_or_not_numbers(value):
    with pytest.raises(ValueError, match=r"is not a port number \(1 to 65535\)"):
        v.validate_port(value)


def test_it_checks_netmasks_for_the_family():
    assert v.validate_netmask("255.255.255.0", 4) == "255.255.255.0"
    assert v.validate_netmask("", 4) == ""
    assert v.validate_netmask("64", 6) == "64"
    for bad in ["255.0.255.0", "24", "255.255.255.256"]:
        with pytest.raises(ValueError, match="IPv4 netmask"):
            v.validate_netmask(bad, 4)
    for bad in ["129", "255.255.255.0", "ffff::"]:
        with pytest.raises(ValueError, match="IPv6 prefix length"):
            v.validate_netmask(bad, 6)


@pytest.mark.parametrize("value", ["eth0", "eth0:1", "seth0:1", "bond0.100", "br-lan", "ens3", "enp0s31f6", ""])
def test_it_accepts_device_names(value):
    assert v.validate_device(value) == value


@pytest.mark.parametrize("value", ["eth 0", "eth0/1", "eth0:", ":1", "..", "eth0;reboot", "a" * 16, "$(id)"])
def test_it_rejects_device_names_linux_would_refuse_or_a_shell_would_read(value):
    with pytest.raises(ValueError):
        v.validate_device(value)


def test_it_knows_the_kernel_schedulers():
    for name in "rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos".split():
        assert v.validate_scheduler(name) == name
    with pytest.raises(ValueError, match="unknown scheduler 'fastest'"):
        v.validate_scheduler("fastest")


def test_it_rejects_negative_persistence_and_timeouts():
    assert v.validate_non_negative(0) == 0
    with pytest.raises(ValueError, match="is not a whole number of 0 or more"):
        v.validate_non_negative(-1)
    with pytest.raises(ValueError, match="is not a whole number of 1 or more"):
        v.validate_positive(0)


def test_it_reads_lvs_cf_booleans_strictly():
    assert (v.validate_bool01("1"), v.validate_bool01("0")) == (True, False)
    for bad in ["yes", "true", "2", ""]:
        with pytest.raises(ValueError, match="is not 0 or 1"):
            v.validate_bool01(bad)


def test_it_checks_http_status_lists():
    assert v.validate_http_status("200, 301-302") == "200,301-302"
    for bad in ["", "2xx", "302-301", "600", "200;201"]:
        with pytest.raises(ValueError):
            v.validate_http_status(bad)


def test_it_checks_weights_and_firewall_marks():
    assert v.validate_weight("0") == 0
    with pytest.raises(ValueError, match="is not a weight"):
        v.validate_weight(65536)
    assert v.validate_fwmark(None) is None
    assert v.validate_fwmark("4294967295") == 4294967295
    with pytest.raises(ValueError, match="is not a firewall mark"):
        v.validate_fwmark(0)


# --- whole configurations ------------------------------------------------------------------


def test_column_fields_are_ready_for_model_construction():
    vs = VirtualServerConfig(name="web", address="192.0.2.1", directors=["lab"], real_servers=[RealServerConfig("a", "192.0.2.2")])
    fields = column_fields(vs)
    assert "real_servers" not in fields and "health_check" not in fields
    assert "directors" not in fields  # a many-to-many relation, set once the row exists
    assert fields["name"] == "web" and fields["drain_timeout"] == 300
    assert column_fields(vs.real_servers[0]) == {
        "name": "a", "address": "192.0.2.2", "port": None, "weight": 1, "admin_state": "enabled", "forwarding": "",
        "check_address": "", "check_port": None,
    }


def test_scalar_fields_carry_the_directors_for_a_backup():
    vs = VirtualServerConfig(name="web", address="192.0.2.1", directors=["a", "b"])
    assert scalar_fields(vs)["directors"] == ["a", "b"]


def test_effective_forwarding_prefers_the_real_server_then_the_virtual_server_then_the_cluster():
    config = Config()
    config.cluster.network = "direct"
    vs = VirtualServerConfig(name="v", address="192.0.2.1")
    assert effective_forwarding(config, vs) == "direct"
    vs.forwarding = "tunnel"
    assert effective_forwarding(config, vs, RealServerConfig("r", "192.0.2.2")) == "tunnel"
    assert effective_forwarding(config, vs, RealServerConfig("r", "192.0.2.2", forwarding="nat")) == "nat"


def test_it_lists_every_problem_with_its_path():
    vs = VirtualServerConfig(
        name="web", address="192.0.2.1", pmask="64", sorry_port=8080,
        real_servers=[RealServerConfig("a", "2001:db8::1"), RealServerConfig("a", "192.0.2.3", weight=-1)],
        health_check=HealthCheckConfig(check_type="send_expect"),
    )
    problems = [str(p) for p in config_problems(Config(virtual_servers=[vs, VirtualServerConfig(name="web", address="192.0.2.9")]))]
    assert problems == [
        "virtual_servers[0].pmask: '64' is not a valid IPv4 netmask",
        "virtual_servers[0].sorry_port: a sorry port needs a sorry server",
        "virtual_servers[0].real_servers[0].address: real server address 2001:db8::1 is IPv6 but the virtual server address 192.0.2.1 is IPv4",
        "virtual_servers[0].real_servers[1].weight: -1 is not a weight (a whole number from 0 to 65535)",
        "virtual_servers[0].real_servers[1].name: duplicate real server name 'a'",
        "virtual_servers[0].health_check.send: a send/expect check needs a send string, an expect string or both",
        "virtual_servers[1].name: duplicate virtual server name 'web'",
    ]
    with pytest.raises(ConfigError, match=r"^virtual_servers\[0\]\.pmask: "):
        validate_config(Config(virtual_servers=[vs]))


def test_it_rejects_wrong_types_strictly():
    vs = VirtualServerConfig(name="web", address="192.0.2.1", port="80", active=1)
    assert [str(p) for p in config_problems(Config(virtual_servers=[vs]))] == [
        "virtual_servers[0].active: 1 is not true or false",
        "virtual_servers[0].port: '80' is not a whole number",
    ]


def test_format_path_reads_like_python():
    assert format_path(("virtual_servers", 2, "real_servers", 0, "address")) == "virtual_servers[2].real_servers[0].address"


# --- fields added after the first formats: check target, slow start, directors -----------


def test_it_accepts_a_check_address_of_either_family_and_a_check_port():
    vs = VirtualServerConfig(name="web", address="192.0.2.1", real_servers=[
        RealServerConfig("a", "192.0.2.2", check_address="2001:db8::9", check_port=9000),
        RealServerConfig("b", "192.0.2.3", check_address="127.0.0.1"),
    ], health_check=HealthCheckConfig(slow_start=30), directors=["edge-1", "lab"])
    assert config_problems(Config(virtual_servers=[vs])) == []


def test_it_refuses_bad_check_targets_slow_starts_and_director_lists_with_their_paths():
    vs = VirtualServerConfig(name="web", address="192.0.2.1", real_servers=[
        RealServerConfig("a", "192.0.2.2", check_address="192.0.2.300", check_port=0),
        RealServerConfig("b", "192.0.2.3", check_address=None, check_port="80"),
    ], health_check=HealthCheckConfig(slow_start=-1), directors=["lab", "lab"])
    other = VirtualServerConfig(name="v2", address="192.0.2.9", directors=["bad name"])
    third = VirtualServerConfig(name="v3", address="192.0.2.10", directors="lab")
    problems = [str(p) for p in config_problems(Config(virtual_servers=[vs, other, third]))]
    assert problems == [
        "virtual_servers[0].directors: director 'lab' is named twice",
        "virtual_servers[0].real_servers[0].check_address: '192.0.2.300' is not a valid IP address",
        "virtual_servers[0].real_servers[0].check_port: 0 is not a port number (1 to 65535)",
        "virtual_servers[0].real_servers[1].check_address: None is not text",
        "virtual_servers[0].real_servers[1].check_port: '80' is not a whole number",
        "virtual_servers[0].health_check.slow_start: -1 is not a slow start time (a whole number of seconds from 0 to 86400)",
        "virtual_servers[1].directors: director 'bad name' is not a valid name (1 to 64 characters: letters, digits, "
        "'_', '.', '-', starting with a letter or digit)",
        "virtual_servers[2].directors: 'lab' is not a list of names",
    ]


def test_director_names_come_back_sorted():
    assert v.validate_director_names(["b", "a"]) == ["a", "b"]
    assert v.validate_director_names([]) == []
