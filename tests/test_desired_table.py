"""The desired-table rules of DESIGN.md, one test each, read through
`ipvs_rules` (the same text `ipvsadm -S -n` prints)."""
import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from lbadmin.models import ClusterSettings
from tests import factories
from virtualservers import ipvs
from virtualservers.desired import LiveConnections, desired_table, service_key


def rules() -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command("ipvs_rules", stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def exchange(db):
    vs = factories.virtual_server(active=True)
    factories.real_server(vs, name="CAS1", address="192.0.2.21", admin_state="enabled")
    factories.real_server(vs, name="CAS2", address="192.0.2.22", admin_state="enabled")
    return vs


def test_the_seed_articles_virtual_server_renders_as_ipvsadm_would(exchange):
    assert rules() == [
        "-A -t 192.0.2.50:443 -s rr -p 14400",
        "-a -t 192.0.2.50:443 -r 192.0.2.21:443 -g -w 1",
        "-a -t 192.0.2.50:443 -r 192.0.2.22:443 -g -w 1",
    ]


def test_an_inactive_virtual_server_contributes_nothing(exchange):
    exchange.active = False
    exchange.save()
    assert rules() == []


def test_a_disabled_real_server_is_left_out(exchange):
    exchange.real_servers.filter(name="CAS1").update(admin_state="disabled")
    assert [r for r in rules() if "-r" in r] == ["-a -t 192.0.2.50:443 -r 192.0.2.22:443 -g -w 1"]


def test_unknown_health_counts_as_up_and_down_is_removed(exchange):
    assert exchange.real_servers.filter(health="unknown").count() == 2
    exchange.real_servers.filter(name="CAS2").update(health="down")
    assert [r for r in rules() if "-r" in r] == ["-a -t 192.0.2.50:443 -r 192.0.2.21:443 -g -w 1"]


def test_quiesce_keeps_a_down_server_at_weight_0(exchange):
    exchange.quiesce_server = True
    exchange.save()
    exchange.real_servers.filter(name="CAS2").update(health="down")
    assert "-a -t 192.0.2.50:443 -r 192.0.2.22:443 -g -w 0" in rules()


def test_all_down_brings_in_the_sorry_server(exchange):
    exchange.sorry_server = "192.0.2.99"
    exchange.save()
    exchange.real_servers.update(health="down")
    assert [r for r in rules() if "-r" in r] == ["-a -t 192.0.2.50:443 -r 192.0.2.99:443 -g -w 1"]
    exchange.real_servers.filter(name="CAS1").update(health="up")
    assert "192.0.2.99" not in " ".join(rules())


def test_draining_sets_weight_0_until_connections_end_or_the_timeout(exchange):
    cas1 = exchange.real_servers.get(name="CAS1")
    cas1.admin_state = "draining"
    cas1.drain_started_at = timezone.now()
    cas1.save()
    key = service_key(exchange)
    busy = LiveConnections({(key, "192.0.2.21", 443): 3})
    idle = LiveConnections({(key, "192.0.2.21", 443): 0})
    weights = lambda live, now=None: {d.address: d.weight for d in desired_table(live=live, now=now)[key].destinations.values()}
    assert weights(busy) == {"192.0.2.21": 0, "192.0.2.22": 1}
    assert weights(idle) == {"192.0.2.22": 1}
    later = timezone.now() + datetime.timedelta(seconds=exchange.drain_timeout + 1)
    assert weights(busy, later) == {"192.0.2.22": 1}


def test_forwarding_comes_from_the_real_server_then_the_virtual_server_then_global(db):
    ClusterSettings.objects.update_or_create(pk=1, defaults={"network": "tunnel"})
    vs = factories.virtual_server(name="web", port=80, forwarding="", persistent=0, pmask="", active=True)
    factories.real_server(vs, name="a", address="192.0.2.1", admin_state="enabled")
    factories.real_server(vs, name="b", address="192.0.2.2", port=8080, forwarding="nat", admin_state="enabled")
    assert rules() == ["-A -t 192.0.2.50:80 -s rr", "-a -t 192.0.2.50:80 -r 192.0.2.1:80 -i -w 1 --tun-type ipip",
                       "-a -t 192.0.2.50:80 -r 192.0.2.2:8080 -m -w 1"]


def test_firewall_marks_persistence_netmasks_and_ipv6(db):
    fw = factories.virtual_server(name="fw", port=80, fwmark=5, persistent=300, pmask="255.255.255.0", active=True, scheduler="wlc")
    factories.real_server(fw, name="f1", address="192.0.2.61", admin_state="enabled", weight=3)
    v6 = factories.virtual_server(name="v6", address="2001:db8::50", port=80, vip_nmask="128", pmask="64",
                                  persistent=60, forwarding="nat", active=True)
    factories.real_server(v6, name="w1", address="2001:DB8::10", port=8080, admin_state="enabled")
    assert rules() == [
        "-A -t [2001:db8::50]:80 -s rr -p 60 -M 64",
        "-a -t [2001:db8::50]:80 -r [2001:db8::10]:8080 -m -w 1",
        "-A -f 5 -s wlc -p 300 -M 255.255.255.0",
        "-a -f 5 -r 192.0.2.61:0 -g -w 3",
    ]
    # What ipvs_rules prints, ipvsadm -R accepts and -S gives back: parse(render) holds.
    assert ipvs.render(ipvs.parse_save("\n".join(rules()) + "\n")).splitlines() == rules()


def test_a_director_gets_only_the_virtual_servers_meant_for_it(exchange):
    one, two = factories.director("one"), factories.director("two")
    other = factories.virtual_server(name="only-two", port=80, active=True)
    other.directors.add(two)
    assert set(desired_table(one)) == {service_key(exchange)}
    assert set(desired_table(two)) == {service_key(exchange), service_key(other)}
