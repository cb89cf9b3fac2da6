"""An IPv4-mapped IPv6 address (::ffff:10.10.0.13) names an IPv4 host: it is refused
wherever an address is meant, with words that say why and what to type instead, and
every address is shown in its canonical form."""
import pytest
from django.urls import reverse

from lbadmin.models import ClusterSettings, Director
from tests import factories
from virtualservers.formats import validate as rules
from virtualservers.formats.keepalived import parse_keepalived
from virtualservers.models import RealServer, VirtualServer

WHY = "an IPv4-mapped address (::ffff:10.10.0.13) is an IPv4 host: use 10.10.0.13 with an IPv4 virtual server"


@pytest.mark.parametrize("spelling", ["::ffff:10.10.0.13", "::FFFF:10.10.0.13", "::ffff:a0a:d", "0:0:0:0:0:ffff:a0a:d"])
def test_the_rule_refuses_every_spelling_of_a_mapped_address(spelling):
    with pytest.raises(ValueError) as refused:
        rules.validate_ip(spelling)
    assert str(refused.value) == WHY


def test_the_rule_writes_ipv6_compressed_in_lower_case():
    assert rules.validate_ip("2001:DB8:0:0:0:0:0:1") == "2001:db8::1"
    assert rules.validate_ip(" 10.10.0.13 ") == "10.10.0.13"


@pytest.mark.django_db
def test_the_real_server_form_refuses_a_mapped_address_of_an_ipv6_virtual_server(client_for, admin_user):
    vs = factories.virtual_server(name="v6", address="fd00:20::100", port=80, vip_nmask="", pmask="",
                                  persistent=0)
    response = client_for(admin_user).post(reverse("real_add", args=[vs.pk]),
                                           {"name": "rs3", "address": "::ffff:10.10.0.13", "weight": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "An IPv4-mapped address (::ffff:10.10.0.13) is an IPv4 host: use 10.10.0.13 with an IPv4 virtual server." \
        in page
    assert page.count("IPv4-mapped") == 1  # said once, next to the field
    assert not RealServer.objects.filter(virtual_server=vs).exists()


@pytest.mark.django_db
def test_a_mapped_check_address_vip_or_sorry_server_is_refused_too(client_for, admin_user):
    vs = factories.virtual_server()
    rs = RealServer(virtual_server=vs, name="CAS1", address="192.0.2.21", check_address="::ffff:127.0.0.1")
    with pytest.raises(Exception) as refused:
        rs.full_clean()
    assert "use 127.0.0.1" in str(refused.value)
    for field in ("address", "sorry_server"):
        bad = VirtualServer(**{"name": "x", "address": "192.0.2.9", "port": 80, field: "::ffff:192.0.2.9"})
        with pytest.raises(Exception) as refused:
            bad.full_clean()
        assert "IPv4-mapped" in str(refused.value.message_dict[field])


@pytest.mark.django_db
def test_settings_and_directors_refuse_mapped_addresses():
    cluster = ClusterSettings.load()
    cluster.nat_router_ip, cluster.nat_nmask = "::ffff:10.0.0.1", "255.255.255.0"
    with pytest.raises(Exception) as refused:
        cluster.full_clean()
    assert "IPv4-mapped" in str(refused.value.message_dict["nat_router_ip"])
    director = Director(name="d", address="::ffff:10.0.0.1")
    with pytest.raises(Exception) as refused:
        director.full_clean()
    assert "use 10.0.0.1" in str(refused.value.message_dict["address"])


@pytest.mark.django_db
def test_addresses_are_saved_and_shown_in_their_canonical_form(client_for, admin_user):
    vs = factories.virtual_server(name="v6", address="FD00:20:0:0:0:0:0:100", port=80, vip_nmask="", pmask="",
                                  persistent=0)
    assert VirtualServer.objects.get(pk=vs.pk).address == "fd00:20::100"
    director = Director(name="d6", address="FD00:0:0:0:0:0:0:5", transport="local")
    director.full_clean()
    director.save()
    assert Director.objects.get(pk=director.pk).address == "fd00::5"
    page = client_for(admin_user).get(reverse("virtual_list")).content.decode()
    assert "fd00:20::100" in page and "FD00" not in page


def test_an_import_refuses_a_mapped_real_server_by_line():
    text = ("virtual_server fd00:20::100 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
            "    real_server ::ffff:10.10.0.13 80 {\n        weight 1\n    }\n}\n")
    with pytest.raises(Exception) as refused:
        parse_keepalived(text)
    assert "is an IPv4 host: use 10.10.0.13" in str(refused.value)
