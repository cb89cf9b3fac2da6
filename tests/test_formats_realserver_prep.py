"""Real-server preparation: the exact commands per forwarding method and address family."""
import pytest

from virtualservers.formats.realserver_prep import prepare


def everything(prep) -> str:
    return "\n".join(f"{s.title}\n{s.why}\n{s.file}\n{s.commands}" for s in prep.sections)


def test_direct_routing_ipv4_raises_the_vip_on_lo_as_a_host_route_after_the_arp_settings():
    text = everything(prepare("192.0.2.50", "direct"))
    assert "ip addr add 192.0.2.50/32 dev lo" in text
    for line in ("net.ipv4.conf.all.arp_ignore = 1", "net.ipv4.conf.all.arp_announce = 2",
                 "net.ipv4.conf.lo.arp_ignore = 1", "net.ipv4.conf.all.rp_filter = 2"):
        assert line in text
    assert text.index("sysctl --system") < text.index("ip addr add 192.0.2.50/32 dev lo")
    assert "/etc/sysctl.d/90-lbadmin-realserver.conf" in text
    assert "Address=192.0.2.50/32" in text and "Name=lo" in text


def test_direct_routing_ipv4_on_windows_matches_the_exchange_article():
    text = everything(prepare("192.0.2.50", "direct"))
    assert 'netsh interface ipv4 set address name="loopback" static 192.0.2.50 255.255.255.255' in text
    assert 'netsh interface ipv4 set interface "net" weakhostreceive=enabled' in text
    assert 'netsh interface ipv4 set interface "loopback" weakhostreceive=enabled' in text
    assert 'netsh interface ipv4 set interface "loopback" weakhostsend=enabled' in text
    assert "metric=254" in text


def test_direct_routing_ipv6_uses_a_128_on_lo_and_no_arp_sysctl():
    prep = prepare("2001:db8::50", "direct")
    text = everything(prep)
    assert prep.family == 6
    assert "ip -6 addr add 2001:db8::50/128 dev lo" in text
    assert "Address=2001:db8::50/128" in text
    assert "arp_ignore = 1" not in text
    assert 'netsh interface ipv6 add address "loopback" 2001:db8::50/128' in text


def test_an_ipv6_vip_is_written_in_its_canonical_form():
    assert prepare("2001:DB8:0:0::50", "direct").vip == "2001:db8::50"


def test_tunnel_ipv4_loads_ipip_and_raises_the_vip_on_tunl0_with_rp_filter_off_there():
    text = everything(prepare("192.0.2.50", "tunnel"))
    assert "modprobe ipip" in text
    assert "/etc/modules-load.d/lbadmin-ipip.conf" in text
    assert "ip addr add 192.0.2.50/32 dev tunl0" in text
    assert "net.ipv4.conf.tunl0.rp_filter = 0" in text
    assert "net.ipv4.conf.all.arp_ignore = 1" in text and "net.ipv4.conf.all.arp_announce = 2" in text
    assert "Windows does not unwrap" in text


def test_tunnel_ipv6_uses_ip6tnl0():
    text = everything(prepare("2001:db8::50", "tunnel"))
    assert "modprobe ip6_tunnel" in text and "ip -6 addr add 2001:db8::50/128 dev ip6tnl0" in text


def test_nat_makes_the_directors_nat_router_address_the_default_gateway():
    text = everything(prepare("192.0.2.50", "nat", nat_router="10.0.0.1"))
    assert "ip route replace default via 10.0.0.1" in text
    assert "Gateway=10.0.0.1" in text
    assert "route -p add 0.0.0.0 mask 0.0.0.0 10.0.0.1" in text
    assert "dev lo" not in text


def test_nat_without_a_router_address_says_to_set_it_first():
    prep = prepare("192.0.2.50", "nat")
    assert prep.sections[0].title == "Set the NAT router address first"
    assert all(not s.commands for s in prep.sections)


@pytest.mark.parametrize("vip, method, router", [
    ("192.0.2.50; rm -rf /", "direct", ""),
    ("not-an-address", "tunnel", ""),
    ("192.0.2.50", "nat", "10.0.0.1\nGateway=6.6.6.6"),
    ("192.0.2.50", "bogus", ""),
])
def test_anything_but_an_address_and_a_known_method_is_refused(vip, method, router):
    with pytest.raises(ValueError):
        prepare(vip, method, nat_router=router)
