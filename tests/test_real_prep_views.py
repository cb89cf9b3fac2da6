"""PREPARE REAL SERVERS: the commands for a virtual server's VIP, readable by a viewer."""
import pytest
from django.urls import reverse

from lbadmin.models import ClusterSettings
from tests import factories


@pytest.mark.django_db
def test_it_shows_the_direct_routing_commands_for_the_vip(client_for, viewer):
    vs = factories.virtual_server(address="192.0.2.50", forwarding="direct")
    page = client_for(viewer).get(reverse("real_prep", args=[vs.pk])).content.decode()
    assert "ip addr add 192.0.2.50/32 dev lo" in page
    assert "weakhostsend=enabled" in page
    assert "PREPARE REAL SERVERS" in page


@pytest.mark.django_db
def test_it_shows_each_forwarding_method_in_use_once(client_for, viewer):
    ClusterSettings(nat_router_ip="10.0.0.1", network="nat").save()
    vs = factories.virtual_server(address="192.0.2.50", forwarding="")
    factories.real_server(vs, name="a", address="10.0.0.21")
    factories.real_server(vs, name="b", address="10.0.0.22", forwarding="tunnel")
    factories.real_server(vs, name="c", address="10.0.0.23", forwarding="tunnel")
    page = client_for(viewer).get(reverse("real_prep", args=[vs.pk])).content.decode()
    assert page.count('id="prep-nat"') == 1 and page.count('id="prep-tunnel"') == 1
    assert "ip route replace default via 10.0.0.1" in page
    assert "dev tunl0" in page


@pytest.mark.django_db
def test_it_rejects_post(client_for, admin_user):
    vs = factories.virtual_server()
    assert client_for(admin_user).post(reverse("real_prep", args=[vs.pk])).status_code == 405


@pytest.mark.django_db
def test_it_requires_a_role(client_for, make_user):
    vs = factories.virtual_server()
    assert client_for(make_user(None)).get(reverse("real_prep", args=[vs.pk])).status_code == 403
