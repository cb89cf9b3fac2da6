"""The JSON API changes what the pages change, through their forms: adding, editing,
deleting; refused versions (409), the forms' messages (422), the audit log's "via API"."""
import pytest

from lbadmin.models import AuditEntry, Director
from tests import factories
from tests.api_client import ApiClient, token_client
from virtualservers.models import HealthCheck, RealServer, VirtualServer

pytestmark = pytest.mark.django_db

NEW_VS = {"name": "web", "address": "192.0.2.80", "port": 80, "protocol": "tcp", "scheduler": "wlc"}


@pytest.fixture
def api(admin_user) -> ApiClient:
    return token_client(admin_user, "deploy")[0]


def test_it_adds_a_virtual_server_with_its_check_and_audits_it_via_api(api):
    response = api.post("/virtual-servers", NEW_VS)
    assert response.status_code == 201, response.content
    body = response.json()
    vs = VirtualServer.objects.get(pk=body["id"])
    assert (vs.name, vs.address, vs.port, vs.scheduler) == ("web", "192.0.2.80", 80, "wlc")
    assert body["version"] and body["real_servers"] == 0 and body["active"] is False
    assert HealthCheck.objects.filter(virtual_server=vs).exists()
    entry = AuditEntry.objects.get(action="create", object_type="VirtualServer")
    assert entry.username == "admin-user"
    assert entry.message.startswith("via API, token deploy (")


def test_a_virtual_server_can_be_added_active(api):
    """As a real server can: the one call an automation makes, instead of add then activate.
    Sent on a change, `active` is only the activate endpoint's business: not changed."""
    body = api.post("/virtual-servers", {**NEW_VS, "active": True}).json()
    vs = VirtualServer.objects.get(pk=body["id"])
    assert body["active"] is True and vs.active
    assert AuditEntry.objects.get(action="create", object_type="VirtualServer").after["active"] is True
    changed = api.patch(f"/virtual-servers/{vs.pk}", {"active": False, "port": 8080}).json()
    assert changed["port"] == 8080 and changed["active"] is True


def test_it_answers_the_forms_messages_by_field(api):
    response = api.post("/virtual-servers", {**NEW_VS, "address": "not-an-ip", "port": 70000})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) >= {"address", "port"}
    assert not VirtualServer.objects.exists()


def test_a_wrong_type_is_refused_in_the_same_shape(api):
    response = api.post("/virtual-servers", {**NEW_VS, "port": "eighty"})
    assert response.status_code == 422
    assert "port" in response.json()["errors"]


def test_a_patch_changes_only_what_it_names_and_a_stale_version_is_refused(api):
    vs = factories.virtual_server()
    read = api.get(f"/virtual-servers/{vs.pk}").json()
    first = api.patch(f"/virtual-servers/{vs.pk}", {"scheduler": "wlc", "version": read["version"]})
    assert first.status_code == 200, first.content
    assert first.json()["scheduler"] == "wlc" and first.json()["name"] == vs.name
    stale = api.patch(f"/virtual-servers/{vs.pk}", {"scheduler": "lc", "version": read["version"]})
    assert stale.status_code == 409
    assert stale.json()["current"]["scheduler"] == "wlc"
    vs.refresh_from_db()
    assert vs.scheduler == "wlc"
    assert AuditEntry.objects.filter(action="update", object_type="VirtualServer").count() == 1


def test_it_adds_a_real_server_and_deactivates_it(api):
    vs = factories.virtual_server(sorry_server="192.0.2.99")
    added = api.post(f"/virtual-servers/{vs.pk}/real-servers", {"name": "rs1", "address": "192.0.2.31"})
    assert added.status_code == 201, added.content
    assert added.json()["admin_state"] == "enabled" and added.json()["virtual_server"] == vs.pk
    rs_id = added.json()["id"]
    off = api.post(f"/real-servers/{rs_id}/deactivate")
    assert off.status_code == 200, off.content
    assert RealServer.objects.get(pk=rs_id).admin_state == "disabled"
    entry = AuditEntry.objects.get(action="deactivate")
    assert "via API, token deploy" in entry.message


def test_taking_out_the_last_real_server_needs_confirm(api):
    vs = factories.virtual_server(active=True)
    rs = factories.real_server(vs, admin_state="enabled")
    refused = api.post(f"/real-servers/{rs.pk}/drain")
    assert refused.status_code == 409
    assert "fails" in refused.json()["consequences"][0]
    rs.refresh_from_db()
    assert rs.admin_state == "enabled"
    assert api.post(f"/real-servers/{rs.pk}/drain", confirm="true").json()["admin_state"] == "draining"


def test_activate_deactivate_and_delete_a_virtual_server(api):
    vs = factories.virtual_server()
    assert api.post(f"/virtual-servers/{vs.pk}/activate").json()["active"] is True
    assert api.post(f"/virtual-servers/{vs.pk}/deactivate").json()["active"] is False
    assert api.delete(f"/virtual-servers/{vs.pk}").status_code == 204
    assert not VirtualServer.objects.exists()
    assert api.get(f"/virtual-servers/{vs.pk}").status_code == 404
    assert [e.action for e in AuditEntry.objects.filter(object_type="VirtualServer").order_by("id")] == \
        ["activate", "deactivate", "delete"]


def test_the_check_is_read_and_changed_through_its_form(api):
    vs = factories.virtual_server()
    check = api.get(f"/virtual-servers/{vs.pk}/check").json()
    changed = api.patch(f"/virtual-servers/{vs.pk}/check",
                        {"check_type": "http", "http_path": "/health", "version": check["version"]})
    assert changed.status_code == 200, changed.content
    assert HealthCheck.objects.get(virtual_server=vs).http_path == "/health"
    bad = api.patch(f"/virtual-servers/{vs.pk}/check", {"interval": 0})
    assert bad.status_code == 422 and "interval" in bad.json()["errors"]


def test_directors_are_added_changed_and_deleted(api):
    added = api.post("/directors", {"name": "lb9", "address": "127.0.0.1", "transport": "local"})
    assert added.status_code == 201, added.content
    pk = added.json()["id"]
    assert api.patch(f"/directors/{pk}", {"priority": 150}).json()["priority"] == 150
    assert api.delete(f"/directors/{pk}").status_code == 204
    assert not Director.objects.exists()


def test_the_audit_log_is_filtered_as_on_the_page(api):
    api.post("/virtual-servers", NEW_VS)
    listed = api.get("/audit", q="via API").json()
    assert listed["count"] >= 1
    assert all("via API" in e["message"] for e in listed["results"])
    assert api.get("/audit", since="tomorrow").status_code == 422
    one = listed["results"][0]
    assert api.get(f"/audit/{one['id']}").json()["message"] == one["message"]


def test_the_reconcile_apply_is_queued_and_audited(api, empty_redis):
    factories.director()
    response = api.post("/reconcile")
    assert response.status_code == 202, response.content
    assert response.json()["directors"] == ["lab"]
    assert "via API" in AuditEntry.objects.get(action="apply").message


def test_the_live_table_answers_without_a_reading(api, empty_redis):
    factories.director()
    live = api.get("/live").json()
    assert live[0]["director"] == "lab" and live[0]["services"] == []


def test_the_audit_page_shows_the_change_came_through_the_api(api, client_for, viewer):
    api.post("/virtual-servers", NEW_VS)
    page = client_for(viewer).get("/audit/")
    assert "via API, token deploy (" in page.content.decode()


def test_the_reconcile_preview_says_why_a_director_cannot_be_read_and_changes_nothing(api, empty_redis):
    director = factories.director(ssh_port=22)
    ipvsadm = "/nonexistent/ipvsadm"  # a local director whose ipvsadm is missing: refused at once
    from lbadmin.models import ClusterSettings
    ClusterSettings.objects.filter(pk=ClusterSettings.load().pk).update(ipvsadm_path=ipvsadm)
    before = Director.objects.values().get(pk=director.pk)
    preview = api.get("/reconcile/preview")
    assert preview.status_code == 200, preview.content
    [planned] = preview.json()
    assert planned["director"] == "lab" and planned["commands"] == [] and planned["error"]
    assert Director.objects.values().get(pk=director.pk) == before
    assert api.get("/reconcile/preview", director="nope").status_code == 404


@pytest.mark.parametrize("client_kind", ["api", "page"])
def test_a_scheduler_flag_sent_twice_is_a_message_not_a_500(api, client_for, admin_user, client_kind):
    flags = ["sh-fallback", "sh-fallback"]
    if client_kind == "api":
        response = api.post("/virtual-servers", {**NEW_VS, "scheduler": "sh", "sched_flags": flags})
        assert response.status_code == 422
        assert response.json()["errors"]["sched_flags"] == ["A scheduler flag is given twice."]
    else:
        response = client_for(admin_user).post("/virtual/add/", {**NEW_VS, "scheduler": "sh", "sched_flags": flags,
                                                                "drain_timeout": 300, "load_monitor": "none"})
        assert response.status_code == 200 and "A scheduler flag is given twice." in response.content.decode()
    assert not VirtualServer.objects.exists()
