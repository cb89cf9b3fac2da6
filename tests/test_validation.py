"""Every input rule: the error shows next to its field, nothing is saved,
and what was saved before is untouched."""
import pytest
from django.urls import reverse

from tests import factories
from virtualservers.models import HealthCheck, RealServer, VirtualServer

GOOD_VS = {"name": "Exchange-443", "address": "192.0.2.50", "vip_nmask": "255.255.255.255", "device": "seth0:1",
           "protocol": "tcp", "port": "443", "scheduler": "rr", "persistent": "14400", "pmask": "255.255.255.255",
           "forwarding": "direct", "load_monitor": "none", "drain_timeout": "300"}


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def field_error(response, field: str) -> str:
    assert response.status_code == 200, f"expected the form again, got {response.status_code}"
    errors = response.context["form"].errors
    assert field in errors, f"no error on {field}: {errors.as_data()}"
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html, "the message is not rendered next to the field"
    return " ".join(errors[field])


VS_CASES = [
    ("address", {"address": "192.0.2.300"}, "valid IPv4 or IPv6"),
    ("address", {"address": "exchange.example"}, "valid IPv4 or IPv6"),
    ("port", {"port": "0"}, "1 to 65535"),
    ("port", {"port": "65536"}, "1 to 65535"),
    ("port", {"port": "http"}, "whole number"),
    ("name", {"name": "bad name;rm -rf"}, "letters, digits"),
    ("name", {"name": "-leading-dash"}, "letters, digits"),
    ("vip_nmask", {"vip_nmask": "255.0.255.0"}, "not a valid IPv4 netmask"),
    ("vip_nmask", {"vip_nmask": "24"}, "dotted"),
    ("vip_nmask", {"address": "2001:db8::50", "vip_nmask": "255.255.255.0"}, "prefix length"),
    ("pmask", {"pmask": "255.255.255.256"}, "not a valid IPv4 netmask"),
    ("device", {"device": "eth0 ; reboot"}, "not a valid device name"),
    ("device", {"device": "averyverylong0:1"}, "longer than 15 characters"),
    ("scheduler", {"scheduler": "fastest"}, "Select a valid choice"),
    ("persistent", {"persistent": "-1"}, "greater than or equal to 0"),
    ("drain_timeout", {"drain_timeout": "-5"}, "greater than or equal to 0"),
    ("fwmark", {"fwmark": "4294967296"}, "4294967295"),
    ("protocol", {"protocol": "icmp"}, "Select a valid choice"),
    ("sorry_server", {"sorry_server": "2001:db8::9"}, "IPv6 but"),
    ("pmask", {"persistent": "0"}, "needs a persistence timeout"),
    # Larger than any row id: SQLite raised OverflowError inside the query (a 500).
    ("directors", {"directors": "99999999999999999999"}, "not one of the available choices"),
    ("directors", {"directors": "-1"}, "not one of the available choices"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,change,message", VS_CASES)
def test_a_bad_virtual_server_field_is_reported_and_nothing_is_saved(admin_client, field, change, message):
    response = admin_client.post(reverse("virtual_add"), {**GOOD_VS, **change})
    assert message in field_error(response, field)
    assert not VirtualServer.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field,change,message", VS_CASES)
def test_a_bad_edit_leaves_the_saved_virtual_server_untouched(admin_client, field, change, message):
    vs = factories.virtual_server()
    before = VirtualServer.objects.filter(pk=vs.pk).values().get()
    response = admin_client.post(reverse("virtual_edit", args=[vs.pk]), {**GOOD_VS, **change})
    assert message in field_error(response, field)
    assert VirtualServer.objects.filter(pk=vs.pk).values().get() == before


@pytest.mark.django_db
def test_protocol_vip_and_port_are_unique(admin_client):
    factories.virtual_server()
    response = admin_client.post(reverse("virtual_add"), {**GOOD_VS, "name": "Other"})
    assert "already served by Exchange-443" in field_error(response, "port")
    # The same VIP and port over UDP is another service.
    assert admin_client.post(reverse("virtual_add"), {**GOOD_VS, "name": "Other", "protocol": "udp"}).status_code == 302


@pytest.mark.django_db
def test_a_firewall_mark_is_unique(admin_client):
    factories.virtual_server(fwmark=7)
    response = admin_client.post(reverse("virtual_add"), {**GOOD_VS, "name": "Other", "port": "80", "fwmark": "7"})
    assert "used by Exchange-443" in field_error(response, "fwmark")


@pytest.mark.django_db
def test_names_are_unique(admin_client):
    factories.virtual_server()
    response = admin_client.post(reverse("virtual_add"), {**GOOD_VS, "port": "80"})
    assert "exists" in field_error(response, "name")


@pytest.mark.django_db
def test_a_vip_cannot_change_family_under_its_real_servers(admin_client):
    vs = factories.virtual_server()
    factories.real_server(vs)
    response = admin_client.post(reverse("virtual_edit", args=[vs.pk]), {**GOOD_VS, "address": "2001:db8::50", "vip_nmask": "128", "pmask": "128"})
    assert "same family" in field_error(response, "address")


RS_CASES = [
    ("address", {"address": "2001:db8::21"}, "IPv6 but"),
    ("address", {"address": "192.0.2.256"}, "valid IPv4 or IPv6"),
    ("port", {"port": "70000"}, "1 to 65535"),
    ("weight", {"weight": "65536"}, "0 to 65535"),
    ("weight", {"weight": "-1"}, "greater than or equal to 0"),
    ("name", {"name": "CAS 1"}, "letters, digits"),
    ("forwarding", {"forwarding": "magic"}, "Select a valid choice"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,change,message", RS_CASES)
def test_a_bad_real_server_field_is_reported_and_nothing_is_saved(admin_client, field, change, message):
    vs = factories.virtual_server()
    data = {"name": "CAS1", "address": "192.0.2.21", "weight": "1", "forwarding": "", **change}
    response = admin_client.post(reverse("real_add", args=[vs.pk]), data)
    assert message in field_error(response, field)
    assert not RealServer.objects.exists()


@pytest.mark.django_db
def test_a_real_server_is_unique_within_its_virtual_server(admin_client):
    vs = factories.virtual_server()
    factories.real_server(vs)
    response = admin_client.post(reverse("real_add", args=[vs.pk]), {"name": "CAS1", "address": "192.0.2.22", "weight": "1"})
    assert "already has a real server" in field_error(response, "name")
    response = admin_client.post(reverse("real_add", args=[vs.pk]), {"name": "CAS9", "address": "192.0.2.21", "weight": "1"})
    assert "already a real server" in field_error(response, "address")


CHECK_CASES = [
    ("send_program", {"check_type": "program", "send_program": ""}, "needs the program"),
    ("send_program", {"check_type": "program", "send_program": "/bin/check 'unclosed"}, "Cannot split"),
    ("expect", {"check_type": "send_expect", "use_regex": "on", "expect": "(unclosed"}, "regular expression"),
    ("http_status", {"check_type": "http", "http_status": "2xx"}, "not an HTTP status code or range"),
    ("http_path", {"check_type": "http", "http_path": "owa"}, "must start with '/'"),
    ("interval", {"interval": "0"}, "from 1 to 86400"),
    ("timeout", {"timeout": "-1"}, "greater than or equal to 0"),
    ("rise", {"rise": "0"}, "from 1 to 10000"),
    ("dns_name", {"check_type": "dns", "dns_name": ""}, "name to query"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,change,message", CHECK_CASES)
def test_a_bad_health_check_is_reported_and_the_old_one_kept(admin_client, field, change, message):
    vs = factories.virtual_server()
    before = HealthCheck.objects.filter(virtual_server=vs).values().get()
    data = {"check_type": "tcp", "interval": "6", "timeout": "6", "rise": "2", "fall": "3", "initial_state": "up",
            "slow_start": "0", "http_method": "GET", "http_path": "/", "http_status": "200-399", "dns_type": "A", **change}
    response = admin_client.post(reverse("check_edit", args=[vs.pk]), data)
    assert message in field_error(response, field)
    assert HealthCheck.objects.filter(virtual_server=vs).values().get() == before


SETTINGS_CASES = [
    ("global_settings", "nat_router_device", {"nat_router_device": "eth1:1 x"}, "not a valid device name"),
    ("global_settings", "nat_nmask", {"nat_nmask": "255.255.0.255"}, "netmask"),
    ("global_settings", "tcp_timeout", {"tcp_timeout": "-3"}, "greater than or equal to 0"),
    ("global_settings", "primary", {"primary": "10.0.0.999"}, "valid IPv4 or IPv6"),
    ("redundancy", "heartbeat_port", {"heartbeat_port": "70000"}, "1 to 65535"),
    ("redundancy", "deadtime", {"keepalive": "6", "deadtime": "3"}, "longer than the heartbeat"),
    ("redundancy", "syncd_id", {"syncd_id": "300"}, "0 to 255"),
    ("redundancy", "backup", {"backup_active": "on", "backup": ""}, "backup server's IP"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("page,field,change,message", SETTINGS_CASES)
def test_bad_settings_are_reported_and_not_saved(admin_client, page, field, change, message):
    from lbadmin.models import ClusterSettings, RedundancySettings

    model = ClusterSettings if page == "global_settings" else RedundancySettings
    before = model.load()
    form = admin_client.get(reverse(page)).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    response = admin_client.post(reverse(page), {**data, **change})
    assert message in field_error(response, field)
    after = model.objects.get(pk=1)
    assert [getattr(after, f.attname) for f in model._meta.fields] == [getattr(before, f.attname) for f in model._meta.fields]


DIRECTOR_CASES = [
    ("host_key", {"host_key": "ssh-ed25519 not-base64!"}, "base64"),
    ("host_key", {"host_key": ""}, "Pin the director's host key"),
    ("address", {"address": "bad host!"}, "neither an IP"),
    ("ssh_key_path", {"ssh_key_path": "relative/key"}, "absolute path"),
    ("ssh_port", {"ssh_port": "0"}, "1 to 65535"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("field,change,message", DIRECTOR_CASES)
def test_a_bad_director_is_reported(admin_client, field, change, message):
    from lbadmin.models import Director

    data = {"name": "lb1", "address": "192.0.2.5", "transport": "ssh", "ssh_port": "22", "ssh_user": "root",
            "ssh_key_path": "/root/.ssh/id_ed25519", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
            "drift_policy": "repair", "enabled": "on", **change}
    response = admin_client.post(reverse("director_add"), data)
    assert message in field_error(response, field)
    assert not Director.objects.exists()


BIG_ID = "99999999999999999999"


@pytest.mark.django_db
def test_ids_too_large_for_a_row_select_nothing_instead_of_failing(admin_client):
    vs = factories.virtual_server(name="web")
    response = admin_client.post(reverse("virtual_bulk"), {"selected": [BIG_ID, "x"], "action": "activate"})
    assert response.status_code == 302
    vs.refresh_from_db()
    assert vs.active is False
    response = admin_client.post(reverse("health_try", args=[vs.pk]), {"real_server": BIG_ID})
    assert response.status_code == 200
    assert "Choose one of this virtual server" in response.content.decode()


@pytest.mark.django_db
def test_a_new_virtual_server_is_added_inactive_unless_ticked_active(admin_client):
    assert admin_client.post(reverse("virtual_add"), GOOD_VS).status_code == 302
    assert admin_client.post(reverse("virtual_add"), {**GOOD_VS, "name": "Ticked", "port": "8443",
                                                      "active": "on"}).status_code == 302
    assert dict(VirtualServer.objects.values_list("name", "active")) == {GOOD_VS["name"]: False, "Ticked": True}
    # The box is on the add page only: ACTIVATE and DEACTIVATE say it afterwards.
    ticked = VirtualServer.objects.get(name="Ticked")
    assert 'name="active"' not in admin_client.get(reverse("virtual_edit", args=[ticked.pk])).content.decode()
    assert 'name="active"' in admin_client.get(reverse("virtual_add")).content.decode()
