"""Who may call the API: a token (or the session, with CSRF for a change), each operation
for the same role as its page; refusals are JSON: 401 who are you?, 403 not allowed."""
import pytest
from django.test import Client

from lbadmin import api_tokens
from lbadmin.models import AuditEntry
from tests import factories
from tests.api_client import API, ApiClient, token_client
from virtualservers.models import RealServer, VirtualServer

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "operator", "admin"]
RANK = {role: rank for rank, role in enumerate(ROLES)}


@pytest.fixture
def world():
    vs = factories.virtual_server(sorry_server="192.0.2.99")
    rs = factories.real_server(vs, admin_state="enabled")
    director = factories.director()
    return {"vs": vs.pk, "rs": rs.pk, "director": director.pk}


def operations(ids: dict) -> list[tuple[str, str, str, dict | None]]:
    """(role needed, method, path, body) for every operation that a role decides."""
    vs, rs, d = ids["vs"], ids["rs"], ids["director"]
    return [
        ("viewer", "get", "/virtual-servers", None),
        ("viewer", "get", f"/virtual-servers/{vs}", None),
        ("viewer", "get", f"/virtual-servers/{vs}/check", None),
        ("viewer", "get", f"/virtual-servers/{vs}/real-servers", None),
        ("viewer", "get", f"/real-servers/{rs}", None),
        ("viewer", "get", "/directors", None),
        ("viewer", "get", f"/directors/{d}", None),
        ("viewer", "get", "/live", None),
        ("viewer", "get", "/audit", None),
        ("viewer", "get", "/config/backup", None),
        ("viewer", "get", "/config/export/lvs.cf", None),
        ("viewer", "get", "/config/export/keepalived.conf", None),
        ("operator", "post", f"/virtual-servers/{vs}/activate", None),
        ("operator", "post", f"/virtual-servers/{vs}/deactivate", None),
        ("operator", "post", f"/real-servers/{rs}/drain", None),
        ("operator", "post", f"/real-servers/{rs}/activate", None),
        ("operator", "post", f"/real-servers/{rs}/deactivate", None),
        ("operator", "post", "/reconcile", None),
        ("admin", "patch", f"/virtual-servers/{vs}", {"scheduler": "wlc"}),
        ("admin", "patch", f"/virtual-servers/{vs}/check", {"interval": 7}),
        ("admin", "post", f"/virtual-servers/{vs}/real-servers", {"name": "rs9", "address": "192.0.2.39"}),
        ("admin", "patch", f"/real-servers/{rs}", {"weight": 3}),
        ("admin", "post", "/virtual-servers", {"name": "new", "address": "192.0.2.81", "port": 81}),
        ("admin", "post", "/directors", {"name": "lb9", "address": "127.0.0.1", "transport": "local"}),
        ("admin", "patch", f"/directors/{d}", {"priority": 120}),
        ("admin", "post", "/config/import", {"format": "lvscf", "text": "", "dry_run": True}),
        ("admin", "post", "/config/restore", {"backup": {}, "dry_run": True}),
        ("admin", "delete", f"/real-servers/{rs}", None),
        ("admin", "delete", f"/directors/{d}", None),
        ("admin", "delete", f"/virtual-servers/{vs}", None),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_each_operation_needs_the_role_its_page_needs(make_user, world, role, empty_redis):
    api = token_client(make_user(role))[0]
    for needed, method, path, body in operations(world):
        response = api.call(method, path, body)
        if RANK[role] >= RANK[needed]:
            assert response.status_code < 400 or response.status_code == 422, (method, path, response.content)
        else:
            assert response.status_code == 403, (method, path, response.status_code)
            assert response.json()["detail"] == f"This needs the {needed} role."


def test_a_refusal_changes_nothing_and_is_not_audited(viewer, world):
    api = token_client(viewer)[0]
    before = AuditEntry.objects.count()
    assert api.post(f"/real-servers/{world['rs']}/deactivate").status_code == 403
    assert api.delete(f"/virtual-servers/{world['vs']}").status_code == 403
    assert RealServer.objects.get(pk=world["rs"]).admin_state == "enabled"
    assert VirtualServer.objects.filter(pk=world["vs"]).exists()
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("header", [None, "Bearer lbat_000000000000_" + "x" * 43, "Basic YWRtaW46YWRtaW4=",
                                    "Bearer nonsense"])
def test_without_a_valid_token_it_answers_401_json(world, header):
    client = Client()
    headers = {"Authorization": header} if header else {}
    for method, path in [("get", "/virtual-servers"), ("post", f"/real-servers/{world['rs']}/deactivate")]:
        response = getattr(client, method)(API + path, headers=headers)
        assert response.status_code == 401, (path, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        assert response["WWW-Authenticate"] == 'Bearer realm="lbadmin"'
        assert "token" in response.json()["detail"]
    assert RealServer.objects.get(pk=world["rs"]).admin_state == "enabled"


def test_a_revoked_token_and_a_deactivated_user_stop_working(make_user, world):
    user = make_user("admin", "ops")
    api, row = token_client(user)
    assert api.get("/virtual-servers").status_code == 200
    api_tokens.revoke(row)
    assert api.get("/virtual-servers").status_code == 401
    api = token_client(user, "second")[0]
    user.is_active = False
    user.save()
    assert api.get("/virtual-servers").status_code == 401


def test_a_user_without_a_role_gets_403(make_user, world):
    api = token_client(make_user(None))[0]
    assert api.get("/virtual-servers").status_code == 403


def test_the_session_reads_but_a_change_needs_its_csrf_token(client_for, admin_user, world):
    client = client_for(admin_user, enforce_csrf=True)
    assert client.get(API + "/virtual-servers").status_code == 200
    refused = client.post(API + f"/virtual-servers/{world['vs']}/activate")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not VirtualServer.objects.get(pk=world["vs"]).active
    client.get("/virtual/")  # the page sets the CSRF cookie, as for the docs page
    token = client.cookies["csrftoken"].value
    allowed = client.post(API + f"/virtual-servers/{world['vs']}/activate", headers={"X-CSRFToken": token})
    assert allowed.status_code == 200, allowed.content
    entry = AuditEntry.objects.get(action="activate")
    assert "via API" not in entry.message  # a session is the page's user, not a token


def test_the_docs_and_the_document_need_a_login_or_a_token(client, viewer, world):
    assert client.get(API + "/docs").status_code == 302
    assert client.get(API + "/openapi.json").status_code == 401
    api = token_client(viewer)[0]
    assert api.get("/openapi.json").json()["info"]["title"] == "lbadmin API"
    assert ApiClient("lbat_bad").get("/openapi.json").status_code == 401
