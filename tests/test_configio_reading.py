"""read_config() reads rows, not model instances (virtualservers/configio/reading.py):
it must give exactly what reading the instances gives, field for field and type for type
(a 1 where True was would change an export's bytes), on a configuration where every
field differs from its default.

The instance reading is written here again, from the ORM, as read_config() was before it
read rows: the proof does not lean on the code it checks.
"""
import dataclasses

import pytest

from lbadmin.models import ClusterSettings, Director, RedundancySettings
from virtualservers import configio
from virtualservers.formats.config import (
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
)
from virtualservers.models import HealthCheck, RealServer, VirtualServer

pytestmark = pytest.mark.django_db

_NESTED = ("directors", "real_servers", "health_check")


def _from_instance(obj, cls, **nested):
    """The dataclass from a model instance: every field it carries, a NULL text (a blank
    optional IP) as ''."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in _NESTED:
            continue
        value = getattr(obj, f.name)
        values[f.name] = ("" if value is None else str(value)) if f.type == "str" else value
    return cls(**values, **nested)


def instance_reading() -> Config:
    """The configuration as model instances give it: virtual servers in the database's
    order of names, real servers and director names sorted by name."""
    servers = []
    for vs in VirtualServer.objects.order_by("name"):
        try:
            check = _from_instance(HealthCheck.objects.get(virtual_server=vs), HealthCheckConfig)
        except HealthCheck.DoesNotExist:
            check = HealthCheckConfig()
        real = [_from_instance(rs, RealServerConfig) for rs in sorted(RealServer.objects.filter(virtual_server=vs),
                                                                       key=lambda rs: rs.name)]
        directors = sorted(d.name for d in vs.directors.all())
        servers.append(_from_instance(vs, VirtualServerConfig, directors=directors, real_servers=real,
                                      health_check=check))
    return Config(cluster=_from_instance(ClusterSettings.objects.get(pk=1), ClusterConfig),
                  redundancy=_from_instance(RedundancySettings.objects.get(pk=1), RedundancyConfig),
                  virtual_servers=servers)


@pytest.fixture
def rich_configuration():
    """Every field away from its default somewhere; blank IPs; a firewall-mark service on
    IPv6 written in a spelling the database keeps its own way; director limits (named so
    that the database's order and Python's may differ); a virtual server without a check."""
    ClusterSettings.objects.update_or_create(pk=1, defaults=dict(
        serial_no=42, service="fos", primary="192.0.2.1", primary_private="10.0.0.1", network="direct",
        nat_router_ip="10.0.0.254", nat_router_device="eth1:1", nat_nmask="255.255.255.0", tcp_timeout=900,
        tcpfin_timeout=120, udp_timeout=300, debug_level="2", rsh_command="rsh", hard_shutdown=True,
        active_cmd="/usr/local/bin/up", inactive_cmd="/usr/local/bin/down", ipvsadm_path="/usr/sbin/ipvsadm",
        expire_quiescent_template=False, expire_nodest_conn=False))
    RedundancySettings.objects.update_or_create(pk=1, defaults=dict(
        backup_active=True, backup="192.0.2.2", backup_private="10.0.0.2", heartbeat=False, heartbeat_port=540,
        keepalive=3, deadtime=9, monitor_links=True, syncdaemon=True, syncd_iface="eth2", syncd_id=7))
    zeta, alpha, mid = (Director.objects.create(name=name, address="127.0.0.1", transport="local")
                        for name in ("zeta", "Alpha", "b-mid"))
    web = VirtualServer.objects.create(
        name="web", active=True, address="192.0.2.80", vip_nmask="255.255.255.0", device="eth0:1", port=8443,
        protocol="udp", scheduler="mh", sched_flags="mh-fallback,mh-port", persistent=60, pmask="255.255.255.0",
        forwarding="tunnel", sorry_server="10.9.9.9", sorry_port=8080, quiesce_server=True, load_monitor="ruptime",
        drain_timeout=77)
    web.directors.set([zeta, alpha, mid])
    HealthCheck.objects.create(
        virtual_server=web, check_type="https", send_program="/bin/check %h %p", send="GET /\\r\\n", expect="ok",
        use_regex=True, interval=9, timeout=4, rise=5, fall=6, initial_state="down", slow_start=30,
        http_method="HEAD", http_path="/health", http_host="web.example", http_status="200,204",
        http_body="alive", verify_tls=False, sni="sni.example", dns_name="q.example", dns_type="AAAA",
        dns_expect="2001:db8::1")
    RealServer.objects.create(virtual_server=web, name="zz-last", address="10.0.0.2", port=None, weight=0,
                              admin_state="draining", forwarding="", check_address=None, check_port=None)
    RealServer.objects.create(virtual_server=web, name="Aa-first", address="10.0.0.1", port=9443, weight=65535,
                              admin_state="enabled", forwarding="nat", check_address="10.1.0.1", check_port=8081)
    RealServer.objects.create(virtual_server=web, name="b_mid", address="10.0.0.3", port=9444,
                              admin_state="disabled", check_address="", check_port=1)
    marked = VirtualServer.objects.create(name="Marked", active=False, address="2001:DB8:0::0:50", fwmark=4294967295,
                                          port=1, protocol="tcp", scheduler="rr", sorry_server="")
    marked.directors.set([mid])
    RealServer.objects.create(virtual_server=marked, name="v6", address="2001:db8::0:7", admin_state="enabled")
    VirtualServer.objects.create(name="a-empty", address="192.0.2.90")  # no check, no real server


def test_it_reads_the_same_configuration_as_the_model_instances_field_for_field(rich_configuration):
    rows = configio.read_config()
    instances = instance_reading()
    assert rows == instances
    # Types too: True and 1 are equal, but an export writes them differently.
    assert repr(rows) == repr(instances)


def test_the_rich_configuration_reaches_every_case_it_is_meant_to(rich_configuration):
    config = configio.read_config()
    by_name = {vs.name: vs for vs in config.virtual_servers}
    assert by_name["a-empty"].health_check == HealthCheckConfig() and by_name["a-empty"].real_servers == []
    assert by_name["Marked"].address == "2001:db8::50" and by_name["Marked"].sorry_server == ""
    assert by_name["web"].directors == ["Alpha", "b-mid", "zeta"]
    assert [rs.name for rs in by_name["web"].real_servers] == ["Aa-first", "b_mid", "zz-last"]
    assert [rs.check_address for rs in by_name["web"].real_servers] == ["10.1.0.1", "", ""]
    assert config.cluster.hard_shutdown is True
    # Every field of every part differs from its default somewhere, so none goes unchecked.
    for default, instances in ((ClusterConfig(), [config.cluster]), (RedundancyConfig(), [config.redundancy]),
                               (HealthCheckConfig(), [by_name["web"].health_check])):
        for f in dataclasses.fields(default):
            assert any(getattr(obj, f.name) != getattr(default, f.name) for obj in instances), f.name
    default_vs = VirtualServerConfig("x", "y")
    for f in dataclasses.fields(VirtualServerConfig):
        assert any(getattr(vs, f.name) != getattr(default_vs, f.name) for vs in config.virtual_servers), f.name
    for f in dataclasses.fields(RealServerConfig):
        assert len({getattr(rs, f.name) for rs in by_name["web"].real_servers}) > 1, f.name


def test_it_reads_a_configuration_of_any_size_in_a_fixed_number_of_queries(rich_configuration, django_assert_num_queries):
    # Settings twice, then one query per table: virtual servers, real servers, checks, directors.
    with django_assert_num_queries(6):
        configio.read_config()
    for i in range(5):
        vs = VirtualServer.objects.create(name=f"more-{i}", address=f"192.0.2.{100 + i}")
        RealServer.objects.create(virtual_server=vs, name="r", address="10.2.0.1")
    with django_assert_num_queries(6):
        configio.read_config()


def test_real_servers_by_virtual_groups_every_real_server_under_its_virtual_servers_id(rich_configuration):
    grouped = configio.real_servers_by_virtual()
    web, marked = VirtualServer.objects.get(name="web"), VirtualServer.objects.get(name="Marked")
    assert set(grouped) == {web.pk, marked.pk}
    assert [rs.name for rs in grouped[web.pk]] == ["Aa-first", "b_mid", "zz-last"]
    assert grouped[marked.pk] == [RealServerConfig(name="v6", address="2001:db8::7", admin_state="enabled")]
