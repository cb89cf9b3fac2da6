"""The management commands: import_lvscf, import_keepalived, export_lvscf,
export_keepalived, backup_config, restore_config."""
import copy
import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lbadmin.models import AuditEntry, ClusterSettings, RedundancySettings
from tests import factories
from virtualservers import configio
from virtualservers.formats.config import Config
from tests.test_formats_lvscf import declared_warnings, read_text, resolve_corpus_host
from virtualservers.models import HealthCheck, RealServer, VirtualServer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"
GOOD_LVSCF = sorted((CORPUS / "lvscf").glob("*.cf"))
BROKEN_LVSCF = sorted((CORPUS / "lvscf" / "broken").glob("*.cf"))
BROKEN_KEEPALIVED = sorted((CORPUS / "keepalived" / "broken").glob("*.conf"))

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def any_check_program_dir():
    """The corpus and generated configurations name programs in /usr/local/bin, /bin...;
    the check program directory rule has tests of its own (tests/test_check_program_rules.py)."""
    from django.test import override_settings

    with override_settings(LBADMIN_CHECK_PROGRAM_DIR="/"):
        yield


@pytest.fixture(autouse=True)
def corpus_hosts(monkeypatch):
    """Host names resolve from the corpus's own table (tests/corpus/lvscf/hosts), never DNS."""
    monkeypatch.setattr(configio.files, "resolve_host", resolve_corpus_host)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def state():
    return (list(VirtualServer.objects.values()), list(RealServer.objects.values()), list(HealthCheck.objects.values()),
            list(ClusterSettings.objects.values()), list(RedundancySettings.objects.values()),
            AuditEntry.objects.count())


def expectation(path: Path) -> tuple[str, str]:
    match = re.match(r"# expect: (\d+): (.*)", path.read_text().splitlines()[0])
    assert match, f"{path.name} has no '# expect: LINE: message' first line"
    return match.group(1), match.group(2)


def test_the_corpus_has_a_rules_file_for_every_good_lvscf():
    assert len(GOOD_LVSCF) >= 10
    assert [p.with_suffix(".rules").exists() for p in GOOD_LVSCF] == [True] * len(GOOD_LVSCF)


@pytest.mark.parametrize("path", GOOD_LVSCF, ids=lambda p: p.stem)
def test_each_corpus_file_gives_exactly_its_ipvs_rules(path):
    out, _ = run("import_lvscf", str(path))
    assert f"{path}: " in out
    rules, _ = run("ipvs_rules")
    assert rules == path.with_suffix(".rules").read_text()


@pytest.mark.parametrize("path", GOOD_LVSCF, ids=lambda p: p.stem)
def test_each_corpus_file_imported_exported_and_imported_again_gives_the_same_ipvs_rules(path, tmp_path):
    _, err = run("import_lvscf", str(path))
    assert err.splitlines() == [f"warning: {path.parent}/{w}" for w in declared_warnings(path)]
    exported = tmp_path / "exported.cf"
    run("export_lvscf", "-o", str(exported))
    out, err = run("import_lvscf", "--replace", str(exported))
    assert (out, err) == (f"{exported}: no changes\n", "")  # read back as written, without a warning
    configio.write_config(Config(), replace=True)
    run("import_lvscf", str(exported))
    rules, _ = run("ipvs_rules")
    assert rules == path.with_suffix(".rules").read_text()


@pytest.mark.parametrize("path", GOOD_LVSCF, ids=lambda p: p.stem)
def test_each_corpus_file_is_stored_field_for_field(path):
    run("import_lvscf", str(path))
    expected = configio.parse_source(configio.LVSCF, read_text(path), str(path)).config
    expected.virtual_servers.sort(key=lambda s: s.name)
    for vs in expected.virtual_servers:
        vs.real_servers.sort(key=lambda r: r.name)
    assert configio.read_config() == expected


@pytest.mark.parametrize("path", BROKEN_LVSCF, ids=lambda p: p.stem)
def test_each_broken_lvscf_is_refused_with_its_line_and_nothing_changes(path):
    factories.virtual_server(name="existing")
    line, message = expectation(path)
    before = state()
    with pytest.raises(CommandError) as refused:
        run("import_lvscf", "--replace", str(path))
    assert str(refused.value) == f"{path}:{line}: {message}"
    assert state() == before


@pytest.mark.parametrize("path", BROKEN_KEEPALIVED, ids=lambda p: p.stem)
def test_each_broken_keepalived_conf_is_refused_with_its_line_and_nothing_changes(path):
    factories.virtual_server(name="existing")
    line, message = expectation(path)
    before = state()
    with pytest.raises(CommandError) as refused:
        run("import_keepalived", "--replace", str(path))
    assert str(refused.value) == f"{path}:{line}: {message}"
    assert state() == before


def test_without_replace_it_refuses_existing_virtual_servers_and_changes_nothing():
    path = CORPUS / "lvscf" / "udp.cf"
    run("import_lvscf", str(path))
    before = state()
    with pytest.raises(CommandError) as refused:
        run("import_lvscf", str(path))
    assert str(refused.value) == (f"{path}: virtual server 'dns' exists; replace to overwrite it\n"
                                  f"{path}: virtual server 'syslog' exists; replace to overwrite it")
    assert state() == before


def test_replace_makes_the_configuration_equal_the_file():
    run("import_lvscf", str(CORPUS / "lvscf" / "udp.cf"))
    out, _ = run("import_lvscf", "--replace", str(CORPUS / "lvscf" / "persistence.cf"))
    assert "- virtual server dns" in out and "+ virtual server portal" in out
    assert sorted(VirtualServer.objects.values_list("name", flat=True)) == ["portal", "vpn"]


def test_dry_run_prints_the_changes_and_changes_nothing():
    before = state()
    out, _ = run("import_lvscf", "--dry-run", str(CORPUS / "lvscf" / "direct_routing.cf"))
    assert "+ virtual server web: active tcp 192.0.2.80:80 wlc, tcp check, real servers: web1 192.0.2.11, web2 192.0.2.12" in out
    assert "~ global settings: serial_no 0 → 3; primary (blank) → 192.0.2.5; network nat → direct" in out
    assert out.endswith("dry run: 1 added, 1 changed, 0 removed would be made; nothing changed\n")
    assert state() == before


def test_load_monitor_is_reported_as_a_warning():
    _, err = run("import_lvscf", str(CORPUS / "lvscf" / "all_globals.cf"))
    assert "warning: " in err and ":38: load_monitor 'rup' not supported, skipped" in err


def test_piranhas_sample_imports_printing_every_warning_with_its_path_and_line():
    path = CORPUS / "lvscf" / "piranha_sample.cf"
    out, err = run("import_lvscf", str(path))
    assert err.splitlines() == [f"warning: {path.parent}/{w}" for w in declared_warnings(path)]
    assert f"warning: {path}:20: duplicate key 'backup_active' (first set on line 17)" in err
    assert out.endswith(f"{path}: 2 added, 2 changed, 0 removed (8 warnings on stderr)\n")
    assert sorted(VirtualServer.objects.values_list("name", flat=True)) == ["server1", "server2"]


def test_from_the_shell_warnings_go_to_stderr_and_the_import_exits_0(tmp_path):
    path = CORPUS / "lvscf" / "pmask_without_persistence.cf"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "LBADMIN_DATA_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300,
                   capture_output=True)
    result = subprocess.run([sys.executable, "manage.py", "import_lvscf", str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr == f"warning: {path.parent}/{declared_warnings(path)[0]}\n"
    assert result.stdout.endswith(f"{path}: 1 added, 1 changed, 0 removed (1 warning on stderr)\n")


def test_an_import_is_audited_as_one_change_naming_the_file():
    path = CORPUS / "lvscf" / "send_expect.cf"
    run("import_lvscf", str(path))
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type) == ("import", "Configuration")
    assert str(path) in entry.message and entry.username.endswith("(manage.py import_lvscf)")


def test_a_long_import_prints_progress_lines(tmp_path):
    blocks = [f"virtual v{i} {{\n address = 192.0.2.{i % 250 + 1} eth0:1\n port = {1000 + i}\n}}\n" for i in range(60)]
    path = tmp_path / "many.cf"
    path.write_text("network = direct\n" + "".join(blocks))
    _, err = run("import_lvscf", str(path))
    assert f"{path}: 60 virtual servers read" in err
    assert "written 25/60 virtual servers" in err and "written 60/60 virtual servers" in err
    assert VirtualServer.objects.count() == 60


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "latin1.cf"
    path.write_bytes(b"network = direct\n# caf\xe9\n")
    with pytest.raises(CommandError) as refused:
        run("import_lvscf", str(path))
    assert str(refused.value) == f"{path}:2: not UTF-8 text (byte 0xe9)"


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError) as refused:
        run("import_lvscf", str(tmp_path / "nope.cf"))
    assert str(refused.value) == f"{tmp_path / 'nope.cf'}: cannot read: No such file or directory"


def test_export_lvscf_writes_a_file_that_imports_back_the_same(tmp_path):
    run("import_lvscf", str(CORPUS / "lvscf" / "nat_router.cf"))
    stored = configio.read_config()
    target = tmp_path / "out.cf"
    run("export_lvscf", "-o", str(target))
    run("import_lvscf", "--replace", str(target))
    assert configio.read_config() == stored


def test_export_lvscf_lists_what_lvscf_cannot_carry():
    factories.virtual_server(name="v6", address="2001:db8::80", vip_nmask="", pmask="")
    out, err = run("export_lvscf")
    assert "note: skipped: virtual server 'v6' is IPv6 (lvs.cf has no IPv6)" in err
    assert "virtual v6" not in out


def test_keepalived_import_reports_what_it_leaves_out_and_keeps_global_settings():
    cluster = ClusterSettings.load()
    cluster.network = "tunnel"
    cluster.save()
    out, err = run("import_keepalived", str(CORPUS / "keepalived" / "http_and_tcp.conf"))
    assert ":12: vrrp_instance not imported" in err and ":30: quorum 1 not imported" in err
    assert ClusterSettings.load().network == "tunnel"
    # lb_kind NAT stays NAT although the global network type here is tunnel.
    assert VirtualServer.objects.get(port=25).effective_forwarding() == "nat"
    assert VirtualServer.objects.get(port=80).effective_forwarding() == "direct"


def test_keepalived_export_then_import_gives_the_same_virtual_servers(tmp_path):
    run("import_keepalived", str(CORPUS / "keepalived" / "http_and_tcp.conf"))
    before = configio.read_config().virtual_servers
    target = tmp_path / "keepalived.conf"
    run("export_keepalived", "-o", str(target))
    assert "virtual_server 192.0.2.80 80 {" in target.read_text()
    run("import_keepalived", "--replace", str(target))
    assert configio.read_config().virtual_servers == before


def test_backup_then_restore_gives_back_the_whole_configuration(tmp_path):
    run("import_lvscf", str(CORPUS / "lvscf" / "all_globals.cf"))
    run("import_lvscf", str(CORPUS / "lvscf" / "fwmark.cf"), "--replace")
    stored = configio.read_config()
    target = tmp_path / "backup.json"
    run("backup_config", "-o", str(target))
    assert json.loads(target.read_text())["format"] == "lbadmin-backup"
    run("import_lvscf", "--replace", str(CORPUS / "lvscf" / "udp.cf"))
    out, _ = run("restore_config", str(target))
    assert configio.read_config() == stored
    assert AuditEntry.objects.filter(action="restore", object_type="Configuration").count() == 1


def test_restore_refuses_a_backup_with_any_invalid_part(tmp_path):
    run("import_lvscf", str(CORPUS / "lvscf" / "udp.cf"))
    document = json.loads(run("backup_config")[0])
    document["virtual_servers"][1]["real_servers"][0]["weight"] = 70000
    target = tmp_path / "bad.json"
    target.write_text(json.dumps(document))
    before = state()
    with pytest.raises(CommandError) as refused:
        run("restore_config", str(target))
    assert str(refused.value) == f"{target}: virtual_servers[1].real_servers[0].weight: 70000 is not a weight (a whole number from 0 to 65535)"
    assert state() == before


def test_restore_refuses_broken_json_with_its_line(tmp_path):
    target = tmp_path / "broken.json"
    target.write_text('{\n  "format": "lbadmin-backup",\n  "version": 1,,\n}')
    with pytest.raises(CommandError) as refused:
        run("restore_config", str(target))
    assert str(refused.value).startswith(f"{target}:3: not valid JSON: ")


def test_from_the_shell_a_broken_file_prints_path_line_message_and_exits_1_without_traceback(tmp_path):
    path = CORPUS / "lvscf" / "broken" / "unknown_scheduler.cf"
    line, message = expectation(path)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    result = subprocess.run([sys.executable, "manage.py", "import_lvscf", str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"{path}:{line}: {message}\n"
    assert result.stdout == ""


# --- check target, slow start and directors through the commands --------------------------

# A version-1 backup written before real servers had check_address / check_port, health
# checks slow_start and virtual servers directors: those keys are simply absent.
OLD_BACKUP = {
    "format": "lbadmin-backup",
    "version": 1,
    "cluster": {"network": "direct", "serial_no": 3},
    "redundancy": {},
    "virtual_servers": [{
        "name": "web", "address": "192.0.2.80", "active": True, "port": 80, "scheduler": "rr",
        "real_servers": [{"name": "web1", "address": "192.0.2.11", "port": None, "weight": 2,
                          "admin_state": "enabled", "forwarding": ""}],
        "health_check": {"check_type": "tcp", "interval": 6, "timeout": 3, "rise": 2, "fall": 3, "initial_state": "up"},
    }],
}


def test_an_old_backup_without_the_new_fields_restores_with_their_defaults(tmp_path):
    target = tmp_path / "old.json"
    target.write_text(json.dumps(OLD_BACKUP))
    run("restore_config", str(target))
    web = VirtualServer.objects.get(name="web")
    rs = web.real_servers.get()
    assert (web.scheduler, rs.weight, rs.check_address, rs.check_port) == ("rr", 2, None, None)
    assert web.health_check.slow_start == 0 and list(web.directors.all()) == []
    assert ClusterSettings.load().network == "direct"


def test_backup_then_restore_keeps_check_targets_slow_start_and_directors(tmp_path):
    edge = factories.director("edge-1")
    web = factories.virtual_server(name="web", address="192.0.2.80", port=80)
    web.directors.add(edge)
    factories.real_server(web, name="web1", address="192.0.2.11", check_address="198.51.100.11", check_port=8081)
    HealthCheck.objects.update_or_create(virtual_server=web, defaults={"slow_start": 120})
    stored = configio.read_config()
    assert stored.virtual_servers[0].directors == ["edge-1"]
    target = tmp_path / "backup.json"
    run("backup_config", "-o", str(target))
    document = json.loads(target.read_text())
    assert document["virtual_servers"][0]["directors"] == ["edge-1"]
    run("import_lvscf", "--replace", str(CORPUS / "lvscf" / "udp.cf"))
    run("restore_config", str(target))
    assert configio.read_config() == stored
    rs = VirtualServer.objects.get(name="web").real_servers.get()
    assert rs.check_target == ("198.51.100.11", 8081)


def test_restore_into_a_database_without_a_named_director_is_refused_and_changes_nothing(tmp_path):
    document = copy.deepcopy(OLD_BACKUP)
    document["virtual_servers"][0]["directors"] = ["edge-9"]
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(document))
    run("import_lvscf", str(CORPUS / "lvscf" / "udp.cf"))
    before = state()
    with pytest.raises(CommandError) as refused:
        run("restore_config", str(target))
    assert str(refused.value) == (
        f"{target}: virtual server web: no director named 'edge-9' here; add it first, "
        "or take it out of the virtual server's directors (none = every enabled director)"
    )
    assert state() == before


def test_keepalived_export_and_import_keep_the_check_address_and_port(tmp_path):
    run("import_keepalived", str(CORPUS / "keepalived" / "check_target.conf"))
    before = configio.read_config().virtual_servers
    assert ("198.51.100.101", 8081) in [(rs.check_address, rs.check_port) for vs in before for rs in vs.real_servers]
    target = tmp_path / "keepalived.conf"
    run("export_keepalived", "-o", str(target))
    assert "connect_ip 198.51.100.101" in target.read_text()
    run("import_keepalived", "--replace", str(target))
    assert configio.read_config().virtual_servers == before
