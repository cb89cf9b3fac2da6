"""Configuration through the API: the backup restored gives the same configuration back,
lvs.cf imported with a dry run first, refused files say why, a stale basis is refused."""
import pytest

from lbadmin.models import AuditEntry
from tests import factories
from tests.api_client import token_client
from virtualservers.models import VirtualServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    return token_client(admin_user, "backup")[0]


def test_a_backup_restored_gives_the_same_configuration(api):
    vs = factories.virtual_server()
    factories.real_server(vs)
    backup = api.get("/config/backup").json()
    assert api.delete(f"/virtual-servers/{vs.pk}").status_code == 204
    preview = api.post("/config/restore", {"backup": backup, "dry_run": True}).json()
    assert preview["dry_run"] and preview["counts"]["add"] == 1
    assert not VirtualServer.objects.exists()
    restored = api.post("/config/restore", {"backup": backup, "basis": preview["basis"]})
    assert restored.status_code == 200, restored.content
    assert api.get("/config/backup").json() == backup
    assert "via API, token backup" in AuditEntry.objects.get(action="restore").message


def test_lvscf_exported_and_imported_again_changes_nothing(api):
    factories.virtual_server()
    lvscf = api.get("/config/export/lvs.cf")
    assert lvscf.status_code == 200 and lvscf["Content-Type"].startswith("text/plain")
    again = api.post("/config/import", {"format": "lvscf", "text": lvscf.content.decode(), "replace": True,
                                        "dry_run": True})
    assert again.status_code == 200, again.content
    assert again.json()["counts"]["add"] == again.json()["counts"]["remove"] == 0
    keepalived = api.get("/config/export/keepalived.conf")
    assert "Exchange-443': inactive, not written" in keepalived.content.decode()


def test_a_file_that_cannot_be_read_is_refused_with_its_line(api):
    response = api.post("/config/import", {"format": "lvscf", "text": "virtual web {\n  address = nonsense\n"})
    assert response.status_code == 422
    assert response.json()["errors"]["text"]
    assert not VirtualServer.objects.exists()


def test_an_apply_over_a_changed_configuration_is_refused(api):
    backup = api.get("/config/backup").json()
    preview = api.post("/config/restore", {"backup": backup, "dry_run": True}).json()
    factories.virtual_server()
    stale = api.post("/config/restore", {"backup": backup, "basis": preview["basis"]})
    assert stale.status_code == 409
    assert VirtualServer.objects.count() == 1
