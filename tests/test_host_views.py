"""REAL SERVERS (hosts): every address with the services it serves, and host-wide and
bulk actions, each one audit entry and one reconcile request per director (issue 14, item 2)."""
import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests import factories
from virtualservers.models import ReconcileRequest, RealServer, VirtualServer

pytestmark = pytest.mark.django_db

PORTS = (443, 80, 135, 7575, 7576)


@pytest.fixture
def exchange(db):
    """The article's five services on one VIP, CAS1 and CAS2 active on each; two directors."""
    factories.director("lb1")
    factories.director("lb2", address="127.0.0.2")
    services = []
    for port in PORTS:
        vs = factories.virtual_server(name=f"Exchange-{port}", port=port, active=True)
        factories.real_server(vs, name="CAS1", address="192.0.2.21", admin_state="enabled")
        factories.real_server(vs, name="CAS2", address="192.0.2.22", admin_state="enabled")
        services.append(vs)
    return services


def states(address: str) -> set[str]:
    return set(RealServer.objects.filter(address=address).values_list("admin_state", flat=True))


def test_the_hosts_page_lists_every_address_with_all_its_services(client_for, viewer, exchange):
    RealServer.objects.filter(address="192.0.2.22", virtual_server__port=80).update(health="down")
    page = client_for(viewer).get(reverse("host_list")).content.decode()
    assert page.count('id="host-192-0-2-21"') == 1 and page.count('id="host-192-0-2-22"') == 1
    cas2 = page[page.index('id="host-192-0-2-22"'):]
    assert all(f'data-service="Exchange-{port}"' in cas2 for port in PORTS)
    assert 'class="badge down">Down' in cas2
    assert "DRAIN EVERYWHERE" not in page  # a viewer sees no action


def test_an_operator_drains_a_host_everywhere_in_one_action(client_for, operator, exchange):
    RealServer.objects.filter(address="192.0.2.22", virtual_server__port=7576).update(admin_state="disabled")
    response = client_for(operator).post(reverse("host_action", args=["192.0.2.22"]), {"action": "drain"}, follow=True)
    page = response.content.decode()
    assert "192.0.2.22 drained on 4 services" in page
    assert page.count('class="reason countdown" data-deadline=') == 4
    drained = RealServer.objects.filter(address="192.0.2.22", admin_state="draining")
    assert drained.count() == 4 and all(rs.drain_started_at for rs in drained)
    assert RealServer.objects.get(address="192.0.2.22", virtual_server__port=7576).admin_state == "disabled"
    assert states("192.0.2.21") == {"enabled"}

    entry = AuditEntry.objects.get(action="drain")
    assert (entry.object_type, entry.object_repr, entry.username) == ("Host", "192.0.2.22", operator.username)
    assert entry.before == {f"Exchange-{p} CAS2": "enabled" for p in PORTS if p != 7576}
    assert entry.after == {f"Exchange-{p} CAS2": "draining" for p in PORTS if p != 7576}
    # One reconcile: one outbox row per director, written in the action's transaction.
    assert sorted(ReconcileRequest.objects.values_list("trigger", flat=True)) == ["host drain", "host drain"]


def test_activate_and_deactivate_everywhere_touch_only_rows_that_change(client_for, operator, exchange):
    client = client_for(operator)
    client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "drain"})
    client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "activate"})
    assert states("192.0.2.22") == {"enabled"}
    assert not RealServer.objects.exclude(drain_started_at=None).exists()
    client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "deactivate", "back": "list"})
    assert states("192.0.2.22") == {"disabled"}
    assert AuditEntry.objects.filter(object_type="Host").count() == 3
    response = client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "deactivate"}, follow=True)
    assert "Nothing to do" in response.content.decode()
    assert AuditEntry.objects.filter(object_type="Host").count() == 3


def test_a_host_action_refuses_unknown_actions_and_addresses(client_for, operator, exchange):
    client = client_for(operator)
    response = client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "delete"}, follow=True)
    assert "Choose activate, deactivate or drain." in response.content.decode()
    assert client.get(reverse("host_detail", args=["not-an-address"])).status_code == 404
    assert client.get(reverse("host_detail", args=["192.0.2.99"])).status_code == 404
    assert states("192.0.2.22") == {"enabled"} and not AuditEntry.objects.filter(object_type="Host").exists()


def test_the_host_page_works_for_ipv6(client_for, operator):
    vs = factories.virtual_server(name="v6", address="2001:db8::50", pmask="128", vip_nmask="128")
    factories.real_server(vs, name="web6", address="2001:db8::21", admin_state="enabled")
    client = client_for(operator)
    assert "web6" in client.get(reverse("host_detail", args=["2001:db8::21"])).content.decode()
    client.post(reverse("host_action", args=["2001:0db8:0::21"]), {"action": "drain"})
    assert states("2001:db8::21") == {"draining"}


def test_an_admin_adds_the_host_to_more_services_at_once(client_for, admin_user, exchange):
    smtp = factories.virtual_server(name="SMTP-25", port=25)
    imap = factories.virtual_server(name="IMAP-993", port=993)
    factories.virtual_server(name="v6", address="2001:db8::50", pmask="128", vip_nmask="128")
    client = client_for(admin_user)
    page = client.get(reverse("host_detail", args=["192.0.2.22"])).content.decode()
    assert "SMTP-25" in page and "IMAP-993" in page and "v6 (" not in page  # not the other family
    response = client.post(reverse("host_add", args=["192.0.2.22"]),
                           {"services": [smtp.pk, imap.pk], "name": "CAS2", "weight": "1", "active": "on"})
    assert response.status_code == 302
    added = RealServer.objects.filter(address="192.0.2.22", virtual_server__in=[smtp, imap])
    assert {(rs.name, rs.admin_state) for rs in added} == {("CAS2", "enabled")} and added.count() == 2
    entry = AuditEntry.objects.get(object_type="Host", action="create")
    assert entry.after == {"IMAP-993 CAS2": "enabled", "SMTP-25 CAS2": "enabled"}
    assert ReconcileRequest.objects.count() == 2


def test_adding_a_host_is_all_or_nothing(client_for, admin_user, exchange):
    smtp = factories.virtual_server(name="SMTP-25", port=25)
    imap = factories.virtual_server(name="IMAP-993", port=993)
    factories.real_server(imap, name="CAS2", address="192.0.2.99")  # the name is taken there
    response = client_for(admin_user).post(reverse("host_add", args=["192.0.2.22"]),
                                           {"services": [smtp.pk, imap.pk], "name": "CAS2", "weight": "1"})
    assert response.status_code == 200
    assert "IMAP-993: This virtual server already has a real server with this name." in response.content.decode()
    assert not RealServer.objects.filter(address="192.0.2.22", virtual_server__in=[smtp, imap]).exists()
    assert not AuditEntry.objects.filter(object_type="Host").exists()


def test_bulk_activate_on_the_virtual_list_is_one_audit_entry_and_one_reconcile(client_for, operator, exchange):
    VirtualServer.objects.update(active=False)
    chosen = exchange[:3]
    response = client_for(operator).post(reverse("virtual_bulk"),
                                         {"action": "activate", "selected": [vs.pk for vs in chosen]}, follow=True)
    assert "Activated 3 virtual servers" in response.content.decode()
    assert set(VirtualServer.objects.filter(active=True)) == set(chosen)
    entry = AuditEntry.objects.get(action="activate")
    assert entry.after == {vs.name: True for vs in chosen} and entry.before == {vs.name: False for vs in chosen}
    assert ReconcileRequest.objects.count() == 2

    client_for(operator).post(reverse("virtual_bulk"), {"action": "deactivate", "selected": [chosen[0].pk, "x"]})
    assert VirtualServer.objects.filter(active=True).count() == 2
    assert AuditEntry.objects.filter(action="deactivate").count() == 1


def test_the_virtual_list_has_selection_boxes_for_operators_only(client_for, operator, viewer, exchange):
    assert 'form="bulk"' in client_for(operator).get(reverse("virtual_list")).content.decode()
    assert 'form="bulk"' not in client_for(viewer).get(reverse("virtual_list")).content.decode()


def test_what_a_check_reported_is_shown_escaped(client_for, viewer, exchange):
    hostile = '"><script>alert(1)</script>'
    RealServer.objects.filter(address="192.0.2.22").update(health="down", health_reason=hostile)
    client = client_for(viewer)
    for url in (reverse("host_list"), reverse("host_detail", args=["192.0.2.22"])):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(reverse("host_detail", args=["192.0.2.22"])).content.decode()


def test_taking_out_the_last_server_of_services_asks_first_and_changes_nothing(client_for, operator, exchange):
    # CAS1 is out of Exchange-443 and Exchange-80: draining CAS2 everywhere would empty them.
    RealServer.objects.filter(address="192.0.2.21", virtual_server__port__in=[443, 80]).update(admin_state="disabled")
    VirtualServer.objects.filter(port=80).update(sorry_server="192.0.2.99")
    client = client_for(operator)
    refused = client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "drain"})
    page = refused.content.decode()
    assert refused.status_code == 409
    assert "traffic for 192.0.2.50:443 fails" in page and "the sorry server 192.0.2.99:80 answers for" in page
    assert "Exchange-993" not in page  # CAS1 still serves it
    assert states("192.0.2.22") == {"enabled"} and not AuditEntry.objects.filter(object_type="Host").exists()
    assert not ReconcileRequest.objects.exists()

    client.post(reverse("host_action", args=["192.0.2.22"]), {"action": "drain", "confirm": "yes"})
    assert states("192.0.2.22") == {"draining"}
    assert AuditEntry.objects.filter(object_type="Host", action="drain").count() == 1
