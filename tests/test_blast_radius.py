"""Taking out the last real server of an active service says what happens (the sorry
server answers, or the VIP's traffic fails) and changes nothing without confirm=yes."""
import pytest
from django.urls import reverse

from lbadmin.models import AuditEntry
from tests import factories
from virtualservers.blast_radius import consequences
from virtualservers.models import RealServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def web():
    vs = factories.virtual_server(active=True)
    last = factories.real_server(vs, "CAS1", "192.0.2.21", admin_state="enabled")
    factories.real_server(vs, "CAS2", "192.0.2.22", admin_state="disabled")
    return vs, last


def test_the_last_serving_server_of_an_active_service_leaves_its_traffic_failing(web):
    vs, last = web
    [harm] = consequences("deactivate", [last])
    assert harm.vs == vs and harm.fails
    assert harm.outcome == "traffic for 192.0.2.50:443 fails: no real server is left behind it"
    assert consequences("drain", [last]) and consequences("delete", [last])


def test_with_a_sorry_server_it_says_the_sorry_server_answers(web):
    vs, last = web
    vs.sorry_server, vs.sorry_port = "192.0.2.99", 8443
    vs.save()
    [harm] = consequences("drain", [last])
    assert not harm.fails
    assert harm.outcome == "the sorry server 192.0.2.99:8443 answers for 192.0.2.50:443 instead"


def test_nothing_is_harmed_while_another_server_serves(web):
    vs, last = web
    vs.real_servers.filter(name="CAS2").update(admin_state="enabled")
    assert consequences("deactivate", [last]) == []
    # ...unless that other one is down: then this one is the last.
    vs.real_servers.filter(name="CAS2").update(health=RealServer.Health.DOWN)
    assert len(consequences("deactivate", [last])) == 1


def test_an_inactive_service_or_an_activation_harms_nothing(web):
    vs, last = web
    assert consequences("activate", [last]) == []
    vs.active = False
    vs.save()
    assert consequences("deactivate", [last]) == []


def test_a_hosts_servers_taken_out_together_name_every_service_they_empty(web):
    vs, last = web
    other = factories.virtual_server(name="Exchange-80", port=80, active=True)
    same_host = factories.real_server(other, "CAS1", "192.0.2.21", admin_state="enabled")
    assert [c.vs.name for c in consequences("deactivate", [last, same_host])] == ["Exchange-443", "Exchange-80"]


@pytest.mark.parametrize("view, role, verb", [("real_toggle", "operator", "Deactivate"),
                                              ("real_drain", "operator", "Drain"),
                                              ("real_delete", "admin", "Delete")])
def test_the_view_refuses_without_confirm_and_changes_nothing(web, client_for, make_user, view, role, verb):
    vs, last = web
    client = client_for(make_user(role))
    url = reverse(view, args=[vs.pk, last.pk])
    audited = AuditEntry.objects.count()
    page = client.post(url, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"{verb} CAS1?" in text and "traffic for 192.0.2.50:443 fails" in text
    assert 'name="confirm" value="yes"' in text
    plain = client.post(url)
    assert plain.status_code == 409 and "traffic for 192.0.2.50:443 fails" in plain.content.decode()
    last.refresh_from_db()
    assert last.admin_state == "enabled" and AuditEntry.objects.count() == audited
    confirmed = client.post(url, {"confirm": "yes"})
    assert confirmed.status_code == 302
    assert not RealServer.objects.filter(pk=last.pk, admin_state="enabled").exists()
    assert AuditEntry.objects.count() == audited + 1


def test_a_harmless_toggle_needs_no_confirmation(web, client_for, operator):
    vs, last = web
    vs.real_servers.filter(name="CAS2").update(admin_state="enabled")
    response = client_for(operator).post(reverse("real_toggle", args=[vs.pk, last.pk]))
    assert response.status_code == 302
    last.refresh_from_db()
    assert last.admin_state == "disabled"
