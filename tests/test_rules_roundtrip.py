"""Whatever the configuration forms accept, a backup of it restores unchanged.

Hypothesis posts data to the virtual server, real server and health check forms and to
the global and redundancy settings forms; what they save is backed up with
`backup_config`, the database is emptied, `restore_config` reads the file back, and the
configuration must be the same. A form that accepts what the backup loader refuses
would leave an operator with a backup that cannot be restored.
"""
import ipaddress
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck as H
from hypothesis import event, find, given, settings
from hypothesis import strategies as st

from lbadmin.forms import ClusterSettingsForm, RedundancySettingsForm
from lbadmin.models import ClusterSettings, RedundancySettings
from virtualservers import configio
from virtualservers.formats import validate as v
from virtualservers.forms import HealthCheckForm, RealServerForm, VirtualServerForm
from virtualservers.models import HealthCheck, VirtualServer

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[H.function_scoped_fixture, H.too_slow, H.data_too_large])

# Text that stresses the rules: control characters, line breaks, NUL, quotes, unicode.
nasty = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\n", "a\nb", "a\rb", "\x00", "x\x00", "\t", "'", '"', "\\", "#", "{", "}", "%h %p",
                     "ǅ", "\u202e", "a" * 300, "-1", "0", "65536", str(2**31), str(2**63 - 1), "1e3"]),
)


ipv4 = st.ip_addresses(v=4).map(str)
# Not IPv4-mapped (::ffff:a.b.c.d): an IPv4 host, refused wherever an address is meant.
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)
mapped = ipv4.map(lambda a: f"::ffff:{a}")
any_ip = st.one_of(ipv4, ipv6)
netmask4 = st.integers(0, 32).map(lambda p: str(ipaddress.IPv4Network(f"0.0.0.0/{p}").netmask))
netmasks = st.one_of(netmask4, st.integers(0, 128).map(str))
devices = st.one_of(st.just(""), st.from_regex(r"(eth|bond)[0-9](\.[0-9]{1,3})?(:[0-9])?", fullmatch=True))
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
checkbox = st.sampled_from(["on", None])
blank = st.just("")


def within(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(str)


def edges(low: int, high: int) -> st.SearchStrategy[str]:
    """The bounds, one step past them, and numbers no column holds."""
    return st.one_of(st.sampled_from([low - 1, low, high, high + 1, 2**31, 2**63 - 1]).map(str), nasty)


def choice(values) -> st.SearchStrategy[str]:
    return st.sampled_from(list(values))


def bad_choice(values) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(list(values) + ["bogus", "", " "]), nasty)


def text_edges() -> st.SearchStrategy[str]:
    return st.one_of(line, nasty)


@st.composite
def posts(draw, good: dict, changed: dict, max_changes: int = 3) -> dict:
    """A POST as a browser sends it: good values with a few fields changed to edge or
    bad ones; unchecked boxes (None) left out."""
    data = draw(st.fixed_dictionaries(good))
    for field in draw(st.lists(st.sampled_from(sorted(changed)), max_size=max_changes, unique=True)):
        data[field] = draw(changed[field])
    return {k: value for k, value in data.items() if value is not None}


vs_posts = posts(
    dict(name=names, address=ipv4, vip_nmask=st.one_of(blank, netmask4), device=devices, protocol=choice(v.PROTOCOLS),
         port=within(1, v.MAX_PORT), fwmark=blank, scheduler=choice(v.SCHEDULERS),
         persistent=within(0, v.MAX_IPVS_TIMEOUT), pmask=blank, forwarding=choice(v.FORWARDINGS), sorry_server=blank,
         sorry_port=blank, quiesce_server=checkbox, load_monitor=choice(v.LOAD_MONITORS),
         drain_timeout=within(0, v.MAX_DRAIN_TIMEOUT)),
    dict(name=nasty, address=st.one_of(ipv6, nasty), vip_nmask=st.one_of(netmasks, nasty), device=nasty,
         protocol=bad_choice(v.PROTOCOLS), port=edges(1, v.MAX_PORT), fwmark=edges(1, v.MAX_FWMARK),
         scheduler=bad_choice(v.SCHEDULERS), persistent=edges(0, v.MAX_IPVS_TIMEOUT), pmask=st.one_of(netmasks, nasty),
         forwarding=bad_choice(v.FORWARDINGS), sorry_server=st.one_of(any_ip, nasty), sorry_port=edges(1, v.MAX_PORT),
         load_monitor=bad_choice(v.LOAD_MONITORS), drain_timeout=edges(0, v.MAX_DRAIN_TIMEOUT)),
)

rs_posts = posts(
    dict(name=names, address=ipv4, port=blank, weight=within(0, v.MAX_WEIGHT), forwarding=choice(v.FORWARDINGS),
         check_address=blank, check_port=blank),
    dict(name=nasty, address=st.one_of(ipv6, mapped, nasty), port=edges(1, v.MAX_PORT), weight=edges(0, v.MAX_WEIGHT),
         forwarding=bad_choice(v.FORWARDINGS), check_address=st.one_of(any_ip, nasty), check_port=edges(1, v.MAX_PORT)),
)

hc_posts = posts(
    dict(check_type=choice(v.CHECK_TYPES), send_program=st.just("/usr/lib/check %h %p"),
         send=st.just(r"GET / HTTP/1.0\r\n\r\n"), expect=st.sampled_from(["*", "HTTP/1.[01] 200", "OK"]),
         use_regex=checkbox, interval=within(1, v.MAX_CHECK_SECONDS), timeout=within(1, v.MAX_CHECK_SECONDS),
         rise=within(1, v.MAX_CHECK_COUNT), fall=within(1, v.MAX_CHECK_COUNT), initial_state=choice(v.INITIAL_STATES),
         slow_start=within(0, v.MAX_CHECK_SECONDS), http_method=choice(v.HTTP_METHODS),
         http_path=st.from_regex(r"/[A-Za-z0-9/._?=&%-]{0,20}", fullmatch=True), http_host=st.one_of(blank, names),
         http_status=st.sampled_from(["200", "200-399", "200,301-302", "100-599", " 200 , 404 "]),
         http_body=st.one_of(blank, line), verify_tls=checkbox, sni=st.one_of(blank, names),
         dns_name=st.just("www.example.com"), dns_type=choice(v.DNS_TYPES), dns_expect=st.one_of(blank, line)),
    dict(check_type=bad_choice(v.CHECK_TYPES), send_program=text_edges(), send=text_edges(), expect=text_edges(),
         interval=edges(1, v.MAX_CHECK_SECONDS), timeout=edges(1, v.MAX_CHECK_SECONDS), rise=edges(1, v.MAX_CHECK_COUNT),
         fall=edges(1, v.MAX_CHECK_COUNT), initial_state=bad_choice(v.INITIAL_STATES),
         slow_start=edges(0, v.MAX_CHECK_SECONDS), http_method=bad_choice(v.HTTP_METHODS + ("PUT", "DELETE")),
         http_path=text_edges(), http_host=text_edges(),
         http_status=st.one_of(st.sampled_from(["600", "399-200", "2xx", "200,,302", "200 - 399", "099", "+200"]),
                               st.text(alphabet="0123456789-, ", max_size=10)),
         http_body=text_edges(), sni=text_edges(), dns_name=text_edges(), dns_type=bad_choice(v.DNS_TYPES),
         dns_expect=text_edges()),
)

cluster_posts = posts(
    dict(primary=st.one_of(blank, any_ip), primary_private=st.one_of(blank, ipv4), network=choice(v.NETWORKS),
         nat_router_ip=st.one_of(blank, ipv4), nat_nmask=st.one_of(blank, netmask4), nat_router_device=blank,
         tcp_timeout=within(0, v.MAX_IPVS_TIMEOUT), tcpfin_timeout=within(0, v.MAX_IPVS_TIMEOUT),
         udp_timeout=within(0, v.MAX_IPVS_TIMEOUT), service=choice(v.SERVICES),
         debug_level=st.sampled_from(["NONE", "0", "2"]), rsh_command=choice(v.RSH_COMMANDS), hard_shutdown=checkbox,
         active_cmd=st.one_of(blank, line), inactive_cmd=st.one_of(blank, line),
         ipvsadm_path=st.sampled_from(["/sbin/ipvsadm", "/usr/sbin/ipvsadm"])),
    dict(primary=st.one_of(any_ip, nasty), network=bad_choice(v.NETWORKS), nat_router_ip=st.one_of(ipv6, nasty),
         nat_nmask=st.one_of(netmasks, nasty), nat_router_device=st.one_of(devices, nasty),
         tcp_timeout=edges(0, v.MAX_IPVS_TIMEOUT), tcpfin_timeout=edges(0, v.MAX_IPVS_TIMEOUT),
         udp_timeout=edges(0, v.MAX_IPVS_TIMEOUT), service=bad_choice(v.SERVICES), debug_level=text_edges(),
         rsh_command=bad_choice(v.RSH_COMMANDS), active_cmd=text_edges(), inactive_cmd=text_edges(),
         ipvsadm_path=text_edges()),
)

redundancy_posts = posts(
    dict(backup_active=checkbox, backup=ipv4, backup_private=st.one_of(blank, ipv4), heartbeat=checkbox,
         keepalive=within(1, 60), deadtime=within(61, v.MAX_HEARTBEAT_SECONDS), heartbeat_port=within(1, v.MAX_PORT),
         monitor_links=checkbox, syncdaemon=checkbox, syncd_iface=devices, syncd_id=within(0, v.MAX_SYNCD_ID)),
    dict(backup=st.one_of(blank, ipv6, nasty), backup_private=st.one_of(any_ip, nasty),
         keepalive=edges(1, v.MAX_HEARTBEAT_SECONDS), deadtime=edges(1, v.MAX_HEARTBEAT_SECONDS),
         heartbeat_port=edges(1, v.MAX_PORT), syncd_iface=st.one_of(devices, nasty), syncd_id=edges(0, v.MAX_SYNCD_ID)),
)


def save_what_the_forms_accept(vs_data, rs_data, hc_data, cluster_data, redundancy_data) -> list[str]:
    """Post each form as the views do; the names of the forms that saved."""
    saved = []
    form = ClusterSettingsForm(cluster_data, instance=ClusterSettings.load())
    if form.is_valid():
        form.save()
        saved.append("cluster")
    form = RedundancySettingsForm(redundancy_data, instance=RedundancySettings.load())
    if form.is_valid():
        form.save()
        saved.append("redundancy")
    form = VirtualServerForm(vs_data)
    if not form.is_valid():
        return saved
    vs = form.save()
    saved.append("virtual server")
    form = RealServerForm(rs_data, virtual_server=vs)
    if form.is_valid():
        form.save()
        saved.append("real server")
    check, _ = HealthCheck.objects.get_or_create(virtual_server=vs)
    form = HealthCheckForm(hc_data, instance=check)
    if form.is_valid():
        form.save()
        saved.append("health check")
    return saved


def backup_then_restore_into_an_empty_database(tmp_path) -> None:
    path = tmp_path / "backup.json"
    call_command("backup_config", "-o", str(path), stdout=StringIO(), stderr=StringIO())
    VirtualServer.objects.all().delete()
    ClusterSettings.objects.all().delete()
    RedundancySettings.objects.all().delete()
    call_command("restore_config", str(path), stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
@SETTINGS
@given(vs_data=vs_posts, rs_data=rs_posts, hc_data=hc_posts, cluster_data=cluster_posts, redundancy_data=redundancy_posts)
def test_whatever_the_forms_accept_a_backup_restores_unchanged(tmp_path, vs_data, rs_data, hc_data, cluster_data,
                                                               redundancy_data):
    with transaction.atomic():
        for name in save_what_the_forms_accept(vs_data, rs_data, hc_data, cluster_data, redundancy_data):
            event(f"{name} saved")
        before = configio.read_config()
        backup_then_restore_into_an_empty_database(tmp_path)
        assert configio.read_config() == before
        transaction.set_rollback(True)


@pytest.mark.django_db
@pytest.mark.parametrize("form_name", ["cluster", "redundancy", "virtual server", "real server", "health check"])
def test_the_generators_reach_posts_each_form_accepts(form_name):
    # Guards the property above against generators so nasty that a form never saves.
    def saves(posts) -> bool:
        with transaction.atomic():
            saved = save_what_the_forms_accept(*posts)
            transaction.set_rollback(True)
        return form_name in saved

    find(st.tuples(vs_posts, rs_posts, hc_posts, cluster_posts, redundancy_posts), saves,
         settings=settings(max_examples=500, database=None, suppress_health_check=[H.too_slow]))
