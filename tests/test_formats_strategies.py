"""Hypothesis strategies for configurations, shared by the format tests.

Three families: any valid Config (backup), what lvs.cf can express, and what
keepalived.conf can express. The tests at the bottom prove each strategy only
produces configurations the validator accepts, so a failing round trip is the
format's fault, not the generator's.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given, settings, strategies as st

from virtualservers.formats import validate as v
from virtualservers.formats.config import (
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
    config_problems,
)

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
devices = st.from_regex(r"(eth|bond|ens|seth)[0-9]{1,2}(\.[0-9]{1,3})?(:[0-9]{1,2})?", fullmatch=True)
ipv4 = st.ip_addresses(v=4).map(str)
# Not IPv4-mapped (::ffff:a.b.c.d): an IPv4 host, refused wherever an address is meant.
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)
netmask4 = st.integers(0, 32).map(lambda p: str(ipaddress.IPv4Network(f"0.0.0.0/{p}").netmask))
netmask6 = st.integers(0, 128).map(str)
ports = st.integers(1, 65535)
seconds = st.integers(0, 10**6)
persistence = st.integers(0, v.MAX_IPVS_TIMEOUT)
drain_seconds = st.integers(0, v.MAX_DRAIN_TIMEOUT)
positive = st.integers(1, 3600)
# Any text a send/expect string may hold: control characters, quotes, backslashes.
free_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
one_line = st.text(
    st.characters(blacklist_characters="\x00\n\r", blacklist_categories=("Cs",)), max_size=30
)
programs = st.builds(
    lambda path, args: " ".join([path, *args]),
    st.from_regex(r"/[a-z_/]{1,20}", fullmatch=True),
    st.lists(st.sampled_from(["%h", "%p", "-v", "--host=%h", "%h:%p", "--port", "x y"]), max_size=4),
)


def regex_problems(hc: HealthCheckConfig) -> bool:
    """Whether use_regex would make the check invalid (a pattern that does not compile)."""
    with_regex = dataclasses.replace(hc, use_regex=True)
    return bool({"expect", "http_body", "dns_expect"} & set(v.health_check_problems(with_regex)))


def optional(strategy, empty=""):
    return st.one_of(st.just(empty), strategy)


@st.composite
def unique_names(draw, count):
    return draw(st.lists(names, min_size=count, max_size=count, unique=True))


# --- any valid configuration ------------------------------------------------------------


@st.composite
def health_checks(draw, check_types=v.CHECK_TYPES):
    check_type = draw(st.sampled_from(check_types))
    hc = HealthCheckConfig(
        check_type=check_type,
        send_program=draw(programs) if check_type == "program" else draw(optional(programs)),
        send=draw(free_text),
        expect=draw(free_text),
        use_regex=draw(st.booleans()),
        interval=draw(positive),
        timeout=draw(positive),
        rise=draw(st.integers(1, 10)),
        fall=draw(st.integers(1, 10)),
        initial_state=draw(st.sampled_from(v.INITIAL_STATES)),
        slow_start=draw(st.integers(0, v.MAX_CHECK_SECONDS)),
        http_method=draw(st.sampled_from(v.HTTP_METHODS)),
        http_path=draw(st.from_regex(r"/[A-Za-z0-9/._?=&-]{0,20}", fullmatch=True)),
        http_host=draw(one_line),
        http_status=draw(st.sampled_from(["200", "200-399", "200,301-302", "100-599"])),
        http_body=draw(free_text),
        verify_tls=draw(st.booleans()),
        sni=draw(one_line),
        dns_name=draw(st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True)),
        dns_type=draw(st.sampled_from(v.DNS_TYPES)),
        dns_expect=draw(one_line),
    )
    if check_type == "send_expect" and not hc.send and not hc.expect:
        hc.expect = "OK"
    hc.use_regex = hc.use_regex and not regex_problems(hc)
    return hc


@st.composite
def real_servers(draw, family: int, name: str):
    return RealServerConfig(
        name=name,
        address=draw(ipv4 if family == 4 else ipv6),
        port=draw(st.one_of(st.none(), ports)),
        weight=draw(st.integers(0, 65535)),
        admin_state=draw(st.sampled_from(v.ADMIN_STATES)),
        forwarding=draw(st.sampled_from(v.FORWARDINGS)),
        # Either family: a check may go through a forwarder or a management network.
        check_address=draw(optional(st.one_of(ipv4, ipv6))),
        check_port=draw(st.one_of(st.none(), ports)),
    )


@st.composite
def virtual_servers(draw, name: str):
    family = draw(st.sampled_from([4, 6]))
    address = ipv4 if family == 4 else ipv6
    mask = netmask4 if family == 4 else netmask6
    sorry = draw(optional(address))
    rs_names = draw(st.lists(names, max_size=3, unique=True))
    protocol = draw(st.sampled_from(v.PROTOCOLS))
    persistent = draw(persistence)
    return VirtualServerConfig(
        name=name,
        address=draw(address),
        active=draw(st.booleans()),
        vip_nmask=draw(optional(mask)),
        device=draw(optional(devices)),
        port=draw(ports),
        protocol=protocol,
        # Firewall marks carry TCP and UDP only.
        fwmark=draw(st.one_of(st.none(), st.integers(1, v.MAX_FWMARK))) if protocol != "sctp" else None,
        scheduler=draw(st.sampled_from(v.SCHEDULERS)),
        persistent=persistent,
        pmask=draw(optional(mask)) if persistent else "",
        forwarding=draw(st.sampled_from(v.FORWARDINGS)),
        sorry_server=sorry,
        sorry_port=draw(st.one_of(st.none(), ports)) if sorry else None,
        quiesce_server=draw(st.booleans()),
        load_monitor=draw(st.sampled_from(v.LOAD_MONITORS)),
        drain_timeout=draw(drain_seconds),
        directors=sorted(draw(st.lists(names, max_size=3, unique=True))),
        real_servers=[draw(real_servers(family, n)) for n in rs_names],
        health_check=draw(health_checks()),
    )


clusters = st.builds(
    ClusterConfig,
    serial_no=seconds,
    service=st.sampled_from(v.SERVICES),
    primary=optional(st.one_of(ipv4, ipv6)),
    primary_private=optional(ipv4),
    network=st.sampled_from(v.NETWORKS),
    nat_router_ip=optional(ipv4),
    nat_router_device=optional(devices),
    nat_nmask=optional(netmask4),
    tcp_timeout=persistence,
    tcpfin_timeout=persistence,
    udp_timeout=persistence,
    debug_level=st.sampled_from(["NONE", "0", "1", "2"]),
    rsh_command=st.sampled_from(v.RSH_COMMANDS),
    hard_shutdown=st.booleans(),
    active_cmd=one_line,
    inactive_cmd=one_line,
    ipvsadm_path=st.from_regex(r"/[a-z/]{1,20}", fullmatch=True),
)

redundancies = st.builds(
    RedundancyConfig,
    backup_active=st.booleans(),
    backup=optional(ipv4),
    backup_private=optional(ipv4),
    heartbeat=st.booleans(),
    heartbeat_port=ports,
    keepalive=positive,
    deadtime=positive,
    monitor_links=st.booleans(),
    syncdaemon=st.booleans(),
    syncd_iface=optional(devices),
    syncd_id=st.integers(0, 255),
)


@st.composite
def configs(draw):
    vs_names = draw(st.lists(names, max_size=3, unique=True))
    return Config(
        cluster=draw(clusters),
        redundancy=draw(redundancies),
        virtual_servers=[draw(virtual_servers(n)) for n in vs_names],
    )


# --- what lvs.cf can express --------------------------------------------------------------


@st.composite
def lvscf_health_checks(draw):
    check_type = draw(st.sampled_from(["tcp", "send_expect", "program"]))
    period = draw(positive)
    hc = HealthCheckConfig(
        check_type=check_type,
        use_regex=draw(st.booleans()),
        interval=period,
        timeout=period,
        rise=draw(st.integers(1, 10)),
        fall=1,
    )
    if check_type == "send_expect":
        hc.send, hc.expect = draw(free_text), draw(free_text)
        if not hc.send and not hc.expect:
            hc.send = "\r\n"
    elif check_type == "program":
        hc.send_program = draw(st.one_of(programs, one_line.filter(lambda s: s.strip() and splits(s))))
        hc.send, hc.expect = draw(free_text), draw(free_text)
    hc.use_regex = hc.use_regex and not regex_problems(hc)
    return hc


def splits(command: str) -> bool:
    try:
        v.validate_send_program(command)
    except ValueError:
        return False
    return True


@st.composite
def lvscf_virtual_servers(draw, name: str):
    rs_names = draw(st.lists(names, max_size=3, unique=True))
    persistent = draw(persistence)
    return VirtualServerConfig(
        name=name,
        address=draw(ipv4),
        active=draw(st.booleans()),
        vip_nmask=draw(optional(netmask4)),
        device=draw(optional(devices)),
        port=draw(ports),
        protocol=draw(st.sampled_from(["tcp", "udp"])),
        fwmark=draw(st.one_of(st.none(), st.integers(1, v.MAX_FWMARK))),
        scheduler=draw(st.sampled_from(v.SCHEDULERS)),
        persistent=persistent,
        pmask=draw(optional(netmask4)) if persistent else "",
        sorry_server=draw(optional(ipv4)),
        quiesce_server=draw(st.booleans()),
        real_servers=[
            RealServerConfig(
                name=n,
                address=draw(ipv4),
                port=draw(st.one_of(st.none(), ports)),
                weight=draw(st.integers(0, 65535)),
                admin_state=draw(st.sampled_from(["enabled", "disabled"])),
            )
            for n in rs_names
        ],
        health_check=draw(lvscf_health_checks()),
    )


@st.composite
def lvscf_configs(draw):
    cluster = draw(clusters.filter(lambda c: ":" not in c.primary))
    if not cluster.nat_router_ip:
        cluster.nat_router_device = ""
    vs_names = draw(st.lists(names, max_size=3, unique=True))
    return Config(
        cluster=cluster,
        redundancy=draw(redundancies),
        virtual_servers=[draw(lvscf_virtual_servers(n)) for n in vs_names],
    )


# --- what keepalived.conf can express -------------------------------------------------------


def keepalived_vs_name(address: str, port: int, protocol: str) -> str:
    """The name parse_keepalived gives a virtual server (keepalived has no names)."""
    name = f"{address}-{port}".replace(":", "_")
    name = name if name[0].isalnum() else "0" + name
    return name if protocol == "tcp" else f"{name}-{protocol}"


def keepalived_rs_name(address: str, port: int | None) -> str:
    name = address.replace(":", "_")
    name = name if name[0].isalnum() else "0" + name
    return name + (f"-{port}" if port is not None else "")


@st.composite
def keepalived_health_checks(draw):
    check_type = draw(st.sampled_from(["tcp", "http", "https", "program", "dns", "udp", "icmp", "none"]))
    if check_type == "none":
        return HealthCheckConfig(check_type="none")
    hc = HealthCheckConfig(
        check_type=check_type,
        interval=draw(positive),
        timeout=draw(positive),
        rise=1,
        fall=draw(st.integers(1, 10)),
        initial_state=draw(st.sampled_from(v.INITIAL_STATES)),
    )
    word = st.from_regex(r"[A-Za-z0-9.-]{1,20}", fullmatch=True)
    if check_type in ("http", "https"):
        hc.http_path = draw(st.from_regex(r"/[A-Za-z0-9/._-]{0,20}", fullmatch=True))
        hc.http_status = draw(st.sampled_from(["200", "200-399", "200,301-302"]))
        hc.http_host = draw(optional(word))
        hc.http_body = draw(st.from_regex(r"[A-Za-z0-9 .?*()]{0,12}", fullmatch=True))
        # A pattern with no special character reads back as plain text.
        hc.use_regex = bool(hc.http_body) and draw(st.booleans()) and any(c in hc.http_body for c in ".?*()")
        if hc.use_regex:
            hc.http_body = hc.http_body.replace("(", "").replace(")", "") + ".*"
            hc.use_regex = not regex_problems(hc)  # "*x.*" and "?.*" do not compile
    if check_type == "https":
        hc.verify_tls = False
        hc.sni = draw(optional(word))
    if check_type == "program":
        hc.send_program = draw(st.sampled_from([
            "/usr/local/bin/check %h %p",
            "/usr/bin/check_http --host=%h --port=%p",
            "/opt/probe [%h]:%p -v",
        ]))
    if check_type == "dns":
        hc.dns_name = draw(st.from_regex(r"[a-z0-9-]{1,10}\.example\.com", fullmatch=True))
        hc.dns_type = draw(st.sampled_from(v.DNS_TYPES))
    if check_type == "udp":
        latin1 = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=10)
        hc.send, hc.expect = draw(latin1), draw(latin1)
    return hc


@st.composite
def keepalived_configs(draw):
    count = draw(st.integers(0, 3))
    services = draw(st.lists(
        st.tuples(st.sampled_from([4, 6]), st.integers(0, 2**32 - 1), ports, st.sampled_from(v.PROTOCOLS)),
        min_size=count, max_size=count, unique_by=lambda t: (t[0], t[1], t[2], t[3]),
    ))
    servers = []
    for family, number, port, protocol in services:
        address = str(ipaddress.IPv4Address(number) if family == 4 else ipaddress.IPv6Address(number << 96))
        health_check = draw(keepalived_health_checks())
        # connect_ip / connect_port live in the checker; MISC_CHECK and "no checker" have none.
        moved_checks = health_check.check_type not in ("program", "none")
        forwarding = draw(st.sampled_from(["", "direct", "tunnel"]))
        persistent = draw(st.sampled_from([0, 300, 14400]))
        mask = netmask4 if family == 4 else netmask6
        sorry = draw(optional(ipv4 if family == 4 else ipv6))
        rs_keys = draw(st.lists(
            st.tuples(ipv4 if family == 4 else ipv6, st.one_of(st.none(), ports.filter(lambda p, port=port: p != port))),
            min_size=1, max_size=3, unique_by=lambda t: (t[0], t[1]),
        ))
        real = []
        for rs_address, rs_port in rs_keys:
            rs_forwarding = draw(st.sampled_from(["", "nat", "direct", "tunnel"]))
            if rs_forwarding == (forwarding or "nat"):
                rs_forwarding = ""
            effective_port = rs_port or port
            real.append(RealServerConfig(
                name=keepalived_rs_name(rs_address, rs_port), address=rs_address, port=rs_port,
                weight=draw(st.integers(0, 65535)), forwarding=rs_forwarding,
                check_address=draw(optional(st.one_of(ipv4, ipv6))) if moved_checks else "",
                # The server's own port reads back as "no override".
                check_port=draw(st.one_of(st.none(), ports.filter(lambda p, e=effective_port: p != e))) if moved_checks else None,
            ))
        servers.append(VirtualServerConfig(
            name=keepalived_vs_name(address, port, protocol),
            address=address,
            port=port,
            protocol=protocol,
            scheduler=draw(st.sampled_from(v.SCHEDULERS)),
            persistent=persistent,
            pmask=draw(optional(mask)) if persistent else "",
            forwarding=forwarding,
            sorry_server=sorry,
            sorry_port=draw(st.one_of(st.none(), ports.filter(lambda p, port=port: p != port))) if sorry else None,
            quiesce_server=draw(st.booleans()),
            real_servers=real,
            health_check=health_check,
        ))
    return Config(virtual_servers=servers)


# --- the strategies themselves ---------------------------------------------------------------


@settings(max_examples=50)
@given(configs())
def test_it_generates_only_valid_configurations(config):
    assert config_problems(config) == []


@settings(max_examples=50)
@given(lvscf_configs())
def test_it_generates_only_valid_lvscf_configurations(config):
    assert config_problems(config) == []


@settings(max_examples=50)
@given(keepalived_configs())
def test_it_generates_only_valid_keepalived_configurations(config):
    assert config_problems(config) == []
