"""A template applied to a set that exists: it adds what is missing, shows what differs,
and replaces a service only when the preview's box for it is ticked (issue 14, item 1)."""
import re

import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests import factories
from virtualservers.models import RealServer, VirtualServer

pytestmark = pytest.mark.django_db

EXCHANGE = {"template": "exchange", "name_prefix": "Exchange", "vip": "192.0.2.50", "device": "seth0:1",
            "vip_nmask": "", "addresses": "CAS1 192.0.2.21\nCAS2 192.0.2.22"}


@pytest.fixture
def admin(client_for, admin_user):
    return client_for(admin_user)


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def first_service_by_hand():
    """Exchange-443 as the article built it before the other four: a TCP check, CAS1 and CAS2."""
    vs = factories.virtual_server(name="Exchange-443", address="192.0.2.50", port=443, active=True)
    for name, address in (("CAS1", "192.0.2.21"), ("CAS2", "192.0.2.22")):
        factories.real_server(vs, name=name, address=address, admin_state="enabled")
    return vs


def test_the_form_says_the_names_the_template_makes(admin):
    page = admin.get(reverse("config_template")).content.decode()
    assert "Names become PREFIX-443, PREFIX-80, PREFIX-135, PREFIX-7575, PREFIX-7576." in page
    web = admin.get(reverse("config_template") + "?template=web").content.decode()
    assert "Names become PREFIX-http, PREFIX-https." in web
    assert 'name="check_443"' in page and 'name="check_https"' in web


def test_each_service_gets_the_check_chosen_in_the_same_form(admin):
    preview = admin.post(reverse("config_template"), {**EXCHANGE, "check_443": "tcp", "check_80": "http"})
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
    checks = {vs.port: vs.health_check.check_type for vs in VirtualServer.objects.all()}
    assert checks == {443: "tcp", 80: "http", 135: "tcp", 7575: "tcp", 7576: "tcp"}
    assert {(rs.name, rs.address, rs.admin_state) for rs in RealServer.objects.all()} == {
        ("CAS1", "192.0.2.21", "enabled"), ("CAS2", "192.0.2.22", "enabled")}
    assert RealServer.objects.count() == 10 and set(VirtualServer.objects.values_list("active", flat=True)) == {True}


def test_a_check_the_service_does_not_offer_is_refused(admin):
    response = admin.post(reverse("config_template"), {**EXCHANGE, "check_135": "owa"})
    assert "Select a valid choice" in response.content.decode()
    assert not VirtualServer.objects.exists()


def test_over_the_first_service_it_adds_the_other_four_and_shows_how_443_differs(admin):
    vs = first_service_by_hand()
    preview = admin.post(reverse("config_template"), EXCHANGE)
    page = preview.content.decode()
    assert "4 added, 0 changed, 0 removed" in page
    differing = re.search(r'<table class="grid" id="differing">.*?</table>', page, re.S).group(0)
    assert 'name="replace" value="Exchange-443"' in differing
    assert "check check_type tcp → https" in differing and "check http_path / → /owa" in differing

    admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
    vs.refresh_from_db()
    assert vs.health_check.check_type == "tcp"  # not ticked: kept
    assert sorted(VirtualServer.objects.values_list("name", flat=True)) == [
        "Exchange-135", "Exchange-443", "Exchange-7575", "Exchange-7576", "Exchange-80"]
    assert AuditEntry.objects.filter(action="template").count() == 1


def test_a_ticked_service_is_replaced_in_place(admin):
    vs = first_service_by_hand()
    preview = admin.post(reverse("config_template"), EXCHANGE)
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview), "replace": ["Exchange-443"]})
    replaced = VirtualServer.objects.get(name="Exchange-443")
    assert replaced.pk == vs.pk
    assert (replaced.health_check.check_type, replaced.health_check.http_path) == ("https", "/owa")
    entry = AuditEntry.objects.get(action="template")
    assert entry.after["vs Exchange-443.check.check_type"] == "https"


def test_another_prefix_joins_the_service_on_the_same_port_instead_of_clashing(admin):
    first_service_by_hand()
    preview = admin.post(reverse("config_template"), {**EXCHANGE, "name_prefix": "EXCHB"})
    page = preview.content.decode()
    assert "4 added" in page and "EXCHB-443: its VIP and port are served by Exchange-443, which keeps its name." in page
    assert "virtual server EXCHB-443" not in page
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
    assert VirtualServer.objects.filter(port=443).get().name == "Exchange-443"
    assert VirtualServer.objects.filter(name__startswith="EXCHB-").count() == 4


def test_a_real_server_missing_from_an_existing_service_is_added_to_it(admin):
    vs = factories.virtual_server(name="Exchange-443", address="192.0.2.50", port=443)
    factories.real_server(vs, name="CAS1", address="192.0.2.21")
    preview = admin.post(reverse("config_template"), {**EXCHANGE, "addresses": "CAS1 192.0.2.21\nCAS2 192.0.2.22\nCAS3 192.0.2.23"})
    assert "real server CAS2 added (192.0.2.22)" in preview.content.decode()
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
    assert sorted(vs.real_servers.values_list("name", flat=True)) == ["CAS1", "CAS2", "CAS3"]
    assert vs.real_servers.get(name="CAS1").admin_state == "disabled"  # what existed is left alone


def test_a_forged_replace_name_changes_nothing_else(admin):
    other = factories.virtual_server(name="other", address="192.0.2.99", port=25, scheduler="wlc")
    preview = admin.post(reverse("config_template"), EXCHANGE)
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview), "replace": ["other"]})
    other.refresh_from_db()
    assert (other.scheduler, other.port) == ("wlc", 25)


def test_the_same_template_twice_changes_nothing_the_second_time(admin):
    admin.post(reverse("config_template_confirm"), {"token": token_of(admin.post(reverse("config_template"), EXCHANGE))})
    again = admin.post(reverse("config_template"), EXCHANGE).content.decode()
    assert "no changes" in again and 'id="differing"' not in again
