"""CONFIGURATION pages: upload -> preview (changes nothing) -> confirm; downloads;
restore; templates; and hypothesis fuzzing of the uploads (never a 5xx)."""
import json
import re
from html import escape
from pathlib import Path

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings, strategies as st

from lbadmin.models import AuditEntry, ClusterSettings, RedundancySettings
from tests import factories
from virtualservers import configio, io_forms, io_jobs
from virtualservers.models import HealthCheck as Check, RealServer, VirtualServer
from tests.test_formats_lvscf import declared_warnings, resolve_corpus_host

CORPUS = Path(__file__).parent / "corpus"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def corpus_hosts(monkeypatch):
    """lvs.cf host names resolve from the corpus's own table, never DNS."""
    monkeypatch.setattr(configio.files, "resolve_host", resolve_corpus_host)


def upload(path_or_name, content: bytes | None = None):
    if content is None:
        path = Path(path_or_name)
        return SimpleUploadedFile(path.name, path.read_bytes())
    return SimpleUploadedFile(path_or_name, content)


def state():
    return (list(VirtualServer.objects.values()), list(RealServer.objects.values()), list(Check.objects.values()),
            list(ClusterSettings.objects.values()), list(RedundancySettings.objects.values()),
            AuditEntry.objects.exclude(action="login").count())


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def admin(client_for, admin_user):
    return client_for(admin_user)


def test_an_lvscf_upload_shows_a_preview_and_changes_nothing(admin):
    before = state()
    response = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "tunnel.cf")})
    page = response.content.decode()
    assert response.status_code == 200 and "PREVIEW" in page
    assert "virtual server mail" in page and "1 added, 1 changed, 0 removed" in page
    assert state() == before


def test_confirming_the_preview_applies_it_as_one_audited_change(admin, django_capture_on_commit_callbacks):
    factories.director()  # a director to apply it to: its reconcile is sent on commit
    preview = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "tunnel.cf")})
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.post(reverse("config_import_confirm"), {"token": token_of(preview)})
    assert response.status_code == 302 and response["Location"] == reverse("config_index")
    assert VirtualServer.objects.get().name == "mail" and ClusterSettings.load().network == "tunnel"
    entry = AuditEntry.objects.get(action="import")
    assert entry.object_type == "Configuration" and "tunnel.cf" in entry.message
    assert entry.username == "admin-user" and len(callbacks) == 1


def test_a_broken_file_shows_its_line_next_to_the_upload_field(admin):
    path = CORPUS / "lvscf" / "broken" / "port_out_of_range.cf"
    line, message = re.match(r"# expect: (\d+): (.*)", path.read_text()).groups()
    before = state()
    response = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(path)})
    assert response.status_code == 200
    errors = re.findall(r'<div class="error" id="id_file_error">(.*?)</div>', response.content.decode())
    from django.utils.html import escape

    assert errors == [escape(f"port_out_of_range.cf:{line}: {message}")]
    assert state() == before


def test_an_existing_virtual_server_is_refused_next_to_the_field_unless_replace(admin):
    factories.virtual_server(name="mail", address="192.0.2.25", port=25, persistent=0, pmask="")
    response = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "tunnel.cf")})
    assert "virtual server &#x27;mail&#x27; exists; replace to overwrite it" in response.content.decode()
    response = admin.post(reverse("config_import"), {"format": "lvscf", "replace": "on",
                                                      "file": upload(CORPUS / "lvscf" / "tunnel.cf")})
    assert "PREVIEW" in response.content.decode() and "Replace" in response.content.decode()


def test_a_file_over_one_mib_is_refused_with_a_clear_message(admin):
    big = b"# padding\n" * (io_forms.MAX_UPLOAD // 10 + 1)
    response = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload("big.cf", big)})
    assert "the limit is 1,048,576 bytes (1 MiB)" in response.content.decode()


def test_the_upload_needs_a_csrf_token(client_for, admin_user):
    client = client_for(admin_user, enforce_csrf=True)
    response = client.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "udp.cf")})
    assert response.status_code == 403 and not VirtualServer.objects.exists()


def test_a_tampered_token_applies_nothing(admin):
    preview = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "udp.cf")})
    token = token_of(preview)
    before = state()
    response = admin.post(reverse("config_import_confirm"), {"token": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")})
    assert response.status_code == 302 and response["Location"] == reverse("config_import")
    assert state() == before


def test_a_token_for_another_page_applies_nothing(admin):
    preview = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "udp.cf")})
    response = admin.post(reverse("config_restore_confirm"), {"token": token_of(preview)})
    assert response.status_code == 302 and not VirtualServer.objects.exists()


def test_confirm_shows_a_new_preview_when_the_configuration_changed_meanwhile(admin):
    preview = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "udp.cf")})
    factories.virtual_server(name="meanwhile")
    response = admin.post(reverse("config_import_confirm"), {"token": token_of(preview)})
    assert response.status_code == 200 and "changed since the preview" in response.content.decode()
    assert not VirtualServer.objects.filter(name="dns").exists()
    admin.post(reverse("config_import_confirm"), {"token": token_of(response)})
    assert VirtualServer.objects.filter(name="dns").exists()


def test_piranhas_sample_previews_with_every_warning_and_its_line_then_imports(admin, django_capture_on_commit_callbacks):
    path = CORPUS / "lvscf" / "piranha_sample.cf"
    preview = admin.post(reverse("config_import"), {"format": "lvscf", "file": upload(path)})
    page = preview.content.decode()
    assert preview.status_code == 200 and "PREVIEW" in page
    shown = re.findall(r"<li><code>(.*?)</code></li>", page)
    assert shown == [escape(w) for w in declared_warnings(path)] and len(shown) == 8
    assert shown[0].startswith("piranha_sample.cf:15: primary_shared ignored")
    assert "Warnings (8)" in page and "They do not stop the import" in page
    with django_capture_on_commit_callbacks():
        response = admin.post(reverse("config_import_confirm"), {"token": token_of(preview)})
    assert response.status_code == 302
    assert sorted(VirtualServer.objects.values_list("name", flat=True)) == ["server1", "server2"]
    assert RedundancySettings.load().heartbeat_port == 1050


def test_keepalived_upload_lists_what_is_not_imported(admin):
    response = admin.post(reverse("config_import"), {"format": "keepalived",
                                                      "file": upload(CORPUS / "keepalived" / "http_and_tcp.conf")})
    page = response.content.decode()
    assert "Not imported" in page and "vrrp_instance not imported" in page


def test_downloads_are_attachments_readable_by_a_viewer(client_for, viewer):
    factories.virtual_server(name="web", address="192.0.2.80", port=80, persistent=0, pmask="", active=True)
    client = client_for(viewer)
    lvscf = client.get(reverse("config_export_lvscf"))
    assert lvscf["Content-Disposition"] == 'attachment; filename="lvs.cf"' and b"virtual web {" in lvscf.content
    keepalived = client.get(reverse("config_export_keepalived"))
    assert b"virtual_server 192.0.2.80 80 {" in keepalived.content
    backup = client.get(reverse("config_backup"))
    assert backup["Content-Type"].startswith("application/json")
    assert json.loads(backup.content)["virtual_servers"][0]["name"] == "web"
    index = client.get(reverse("config_index")).content.decode()
    assert "JSON backup" in index and reverse("config_import") not in index


def test_restore_previews_the_differences_then_restores_the_whole_backup(admin):
    admin.post(reverse("config_import_confirm"), {"token": token_of(admin.post(
        reverse("config_import"), {"format": "lvscf", "file": upload(CORPUS / "lvscf" / "udp.cf")}))})
    backup = admin.get(reverse("config_backup")).content
    saved = configio.read_config()
    VirtualServer.objects.get(name="dns").delete()
    RealServer.objects.filter(name="log1").update(weight=9)
    preview = admin.post(reverse("config_restore"), {"file": upload("b.json", backup)})
    page = preview.content.decode()
    assert "+ virtual server dns" not in page and "virtual server dns" in page and "weight 9 → 1" in page
    admin.post(reverse("config_restore_confirm"), {"token": token_of(preview)})
    assert configio.read_config() == saved
    assert AuditEntry.objects.filter(action="restore", message__contains="b.json").count() == 1


def test_restore_refuses_the_whole_document_if_one_part_is_invalid(admin):
    document = json.loads(configio.backup_text(configio.read_config()))
    document["virtual_servers"] = [
        {"name": "ok", "address": "192.0.2.1"},
        {"name": "bad", "address": "192.0.2.300"},
    ]
    before = state()
    response = admin.post(reverse("config_restore"), {"file": upload("b.json", json.dumps(document).encode())})
    assert "virtual_servers[1].address: &#x27;192.0.2.300&#x27; is not a valid IP address" in response.content.decode()
    assert state() == before


def test_the_exchange_template_makes_the_five_virtual_servers_of_the_article(admin):
    form = {"template": "exchange", "name_prefix": "Exchange", "vip": "192.0.2.50", "device": "eth0:1",
            "vip_nmask": "", "addresses": "192.0.2.21\n192.0.2.22, 192.0.2.23"}
    preview = admin.post(reverse("config_template"), form)
    assert "5 added, 0 changed, 0 removed" in preview.content.decode()
    assert not VirtualServer.objects.exists()
    admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
    servers = {vs.port: vs for vs in VirtualServer.objects.all()}
    assert sorted(servers) == [80, 135, 443, 7575, 7576]
    assert servers[443].persistent == 14400 and servers[443].health_check.check_type == "https"
    assert servers[443].health_check.http_path == "/owa"
    assert {vs.persistent for p, vs in servers.items() if p != 443} == {300}
    assert {(vs.forwarding, vs.scheduler, vs.real_servers.count()) for vs in servers.values()} == {("direct", "rr", 3)}
    assert AuditEntry.objects.get(action="template").object_type == "Configuration"


def test_the_web_and_dns_templates_make_their_pairs(admin):
    for form, names in (
        ({"template": "web", "name_prefix": "shop", "vip": "192.0.2.60", "addresses": "192.0.2.61", "http_path": "/health"},
         {"shop-http", "shop-https"}),
        ({"template": "dns", "name_prefix": "ns", "vip": "192.0.2.53", "addresses": "192.0.2.54 192.0.2.55", "dns_name": "."},
         {"ns-dns-udp", "ns-dns-tcp"}),
    ):
        preview = admin.post(reverse("config_template"), form)
        admin.post(reverse("config_template_confirm"), {"token": token_of(preview)})
        assert names <= set(VirtualServer.objects.values_list("name", flat=True))


def test_a_template_with_a_bad_address_shows_the_error_and_adds_nothing(admin):
    response = admin.post(reverse("config_template"), {"template": "exchange", "name_prefix": "Exchange",
                                                        "vip": "192.0.2.50", "addresses": "192.0.2.300"})
    assert "&#x27;192.0.2.300&#x27; is not a valid IP address" in response.content.decode()
    assert not VirtualServer.objects.exists()


def test_an_expired_token_applies_nothing(admin):
    job = {"op": "import", "name": "x.cf", "text": "network = direct\n", "kind": "lvscf", "replace": False, "basis": ""}
    import time
    from unittest import mock

    # Signed two hours ago: the signature is good, the age is not.
    with mock.patch("time.time", return_value=time.time() - 2 * io_jobs.TOKEN_MAX_AGE):
        old = signing.dumps(job, salt=io_jobs.TOKEN_SALT, compress=True)
    response = admin.post(reverse("config_import_confirm"), {"token": old}, follow=True)
    assert "more than an hour old" in response.content.decode()
    assert AuditEntry.objects.filter(action="import").count() == 0


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
lvscf_lines = st.lists(st.sampled_from([
    "virtual v {", "server s {", "}", "{", "address = 192.0.2.1 eth0:1", "address = 192.0.2.300", "port = 0",
    "port = https", "active = 1", "weight = 70000", "scheduler = xx", "persistent = 5", "pmask = 255.255.255.0",
    'send = "a\\', "network = direct", "fwmark = 0", "protocol = sctp", "# comment", "load_monitor = rup",
    "sorry_server = 192.0.2.9", "send_program = \"/bin/x '%h\"", "use_regex = 1", 'expect = "(("',
    "failover f {", "address = 0.0.0.0", "address = nowhere.example", "address = www.example.com eth0:1",
    "dirs = [ /a ]", "primary_shared = /dev/sdb", "port = 80", "address =\u00a0192.0.2.2", "virtual [server_name] {",
]), max_size=12).map(lambda lines: "\n".join(lines).encode())


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), lvscf_lines), kind=st.sampled_from(["lvscf", "keepalived", "nonsense"]),
       replace=st.booleans())
def test_fuzzed_imports_never_answer_5xx(admin, content, kind, replace):
    before = state()
    data = {"format": kind, "file": upload("fuzz.cf", content)}
    if replace:
        data["replace"] = "on"
    response = admin.post(reverse("config_import"), data)
    assert response.status_code == 200
    assert state() == before  # the preview never changes anything
    if 'name="token"' in response.content.decode():
        assert admin.post(reverse("config_import_confirm"), {"token": token_of(response)}).status_code < 500


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), st.text(max_size=8),
              st.sampled_from(["192.0.2.1", "2001:db8::1", "tcp", "rr", "lbadmin-backup", ""])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["format", "version", "cluster", "redundancy", "virtual_servers", "name", "address", "port", "real_servers",
         "health_check", "weight", "network", "pmask", "persistent", "check_type"]), inner, max_size=5)),
    max_leaves=15,
)


@st.composite
def backups(draw):
    document = {"format": "lbadmin-backup", "version": 1, "virtual_servers": [
        {"name": draw(st.sampled_from(["a", "b", "-x"])), "address": draw(st.sampled_from(["192.0.2.1", "2001:db8::1", "x"])),
         **draw(st.dictionaries(st.sampled_from(["port", "pmask", "persistent", "protocol", "fwmark", "real_servers", "health_check"]),
                                json_values, max_size=3))}
        for _ in range(draw(st.integers(0, 2)))]}
    return json.dumps(draw(st.one_of(st.just(document), json_values))).encode()


@FUZZ
@given(content=st.one_of(backups(), st.binary(max_size=100)))
def test_fuzzed_restores_never_answer_5xx(admin, content):
    before = state()
    response = admin.post(reverse("config_restore"), {"file": upload("fuzz.json", content)})
    assert response.status_code == 200
    assert state() == before
    if 'name="token"' in response.content.decode():
        assert admin.post(reverse("config_restore_confirm"), {"token": token_of(response)}).status_code < 500


@FUZZ
@given(form=st.fixed_dictionaries({
    "template": st.sampled_from(["exchange", "web", "dns", "other"]),
    "name_prefix": st.text(max_size=10), "vip": st.sampled_from(["192.0.2.50", "2001:db8::50", "x", ""]),
    "device": st.text(max_size=6), "vip_nmask": st.sampled_from(["", "24", "255.255.255.0", "x"]),
    "addresses": st.text(max_size=30), "http_path": st.text(max_size=6), "dns_name": st.text(max_size=6),
}))
def test_fuzzed_templates_never_answer_5xx(admin, form):
    response = admin.post(reverse("config_template"), form)
    assert response.status_code == 200
