"""import_keepalived on the keepalived corpus: every file imports with its services and
round-trips (import -> export -> import gives the same ipvs_rules); warnings are printed as
`warning: PATH:LINE: ...` and let the import go on; includes are read from disk relative to
the including file; errors name the included file's own path and line."""
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from virtualservers import configio
from virtualservers.models import VirtualServer

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus" / "keepalived"
GOOD = sorted(CORPUS.glob("*.conf"))

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def expected_count(path: Path) -> int:
    return len(configio.parse_source(configio.KEEPALIVED, path.read_text(), str(path),
                                     loader=configio.include_files).config.virtual_servers)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_each_corpus_file_imports_with_its_services_and_prints_its_warnings_with_path_and_line(path):
    out, err = run("import_keepalived", str(path))
    count = expected_count(path)
    assert count > 0 and VirtualServer.objects.count() == count
    warnings = err.splitlines()
    said = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''} on stderr)" if warnings else ""
    assert out.endswith(f"{path}: {count} added, 0 changed, 0 removed{said}\n")
    for line in warnings:
        assert re.match(r"warning: \S+:\d+: \S", line), line


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_each_corpus_file_gives_the_same_ipvs_rules_after_export_and_import_again(path, tmp_path):
    run("import_keepalived", str(path))
    rules, _ = run("ipvs_rules")
    exported = tmp_path / "keepalived.conf"
    run("export_keepalived", "-o", str(exported))
    run("import_keepalived", "--replace", str(exported))
    again, _ = run("ipvs_rules")
    assert rules and again == rules


def test_a_virtual_server_group_is_imported_as_the_services_it_names_and_the_command_says_so():
    path = CORPUS / "virtual_server_group.conf"
    out, err = run("import_keepalived", str(path))
    assert err.splitlines() == [
        f"warning: {path}:8: virtual_server fwmark 9 has no address; set to 0.0.0.0, set the VIP after import",
        f"warning: {path}:8: virtual_server group WEB_VIPS expanded into 5 virtual servers (192.0.2.190-80, "
        "192.0.2.191-80, 192.0.2.192-80, 192.0.2.193-80, fwmark-9), each with its own copy of the real servers and "
        "check: lbadmin has no groups",
        f"warning: {path}:17: delay_before_retry 3 not imported (lbadmin retries at the check interval)",
        f"warning: {path}:20: digest not imported (lbadmin does not compare an MD5 of the page: it checks the "
        "status code, and a regex when there is one)",
    ]
    assert sorted(VirtualServer.objects.values_list("name", flat=True)) == [
        "192.0.2.190-80", "192.0.2.191-80", "192.0.2.192-80", "192.0.2.193-80", "fwmark-9"]
    assert all(vs.real_servers.count() == 1 for vs in VirtualServer.objects.all())


def test_a_misc_check_program_outside_the_program_directory_is_imported_as_a_connect_check():
    path = CORPUS / "misc_check.conf"
    _, err = run("import_keepalived", str(path))
    assert "imported as a TCP connect check to each real server's port instead" in err
    check = VirtualServer.objects.get().health_check
    assert (check.check_type, check.send_program) == ("tcp", "")


def test_a_misc_check_program_inside_the_program_directory_is_kept():
    with override_settings(LBADMIN_CHECK_PROGRAM_DIR="/usr/local/bin"):
        _, err = run("import_keepalived", str(CORPUS / "misc_check.conf"))
    assert "MISC_CHECK" not in err
    check = VirtualServer.objects.get().health_check
    assert (check.check_type, check.send_program) == ("program", "/usr/local/bin/script.sh %h arg2")


def test_an_upload_cannot_read_includes_and_says_so_with_the_line():
    path = CORPUS / "include_main.conf"
    text = path.read_text() + (CORPUS / "braces.conf").read_text()
    source = configio.parse_source(configio.KEEPALIVED, text, "upload.conf")
    assert len(source.config.virtual_servers) == 1
    assert ("upload.conf:6: include include/conf.d/*.conf not read: one uploaded file cannot bring the files it "
            "includes (manage.py import_keepalived PATH reads them)") in source.warnings
    with pytest.raises(configio.SourceError) as refused:
        configio.parse_source(configio.KEEPALIVED, path.read_text(), "upload.conf")
    assert str(refused.value).startswith("upload.conf:6: no virtual_server to import, and include ")


def test_an_error_in_an_included_file_names_that_file_and_its_line_and_changes_nothing(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "web.conf").write_text("virtual_server 192.0.2.1 80 {\n    lb_kind FNAT\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("global_defs {\n}\ninclude conf.d/*.conf\n")
    with pytest.raises(CommandError) as refused:
        run("import_keepalived", str(main))
    assert str(refused.value).startswith(f"{tmp_path / 'conf.d' / 'web.conf'}:2: lb_kind FNAT: FNAT (full NAT) ")
    assert VirtualServer.objects.count() == 0


def test_an_include_loop_and_an_undecodable_included_file_are_refused_at_their_line(tmp_path):
    (tmp_path / "a.conf").write_text("virtual_server 192.0.2.1 80 {\n}\ninclude ./b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    with pytest.raises(CommandError) as refused:
        run("import_keepalived", str(tmp_path / "a.conf"))
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    assert str(refused.value) == f"{b}:1: include a.conf: an include loop ({a} -> {b} -> {a})"
    (tmp_path / "b.conf").write_bytes(b"# fine\nlb_algo r\xe9\n")
    with pytest.raises(CommandError) as refused:
        run("import_keepalived", str(tmp_path / "a.conf"))
    assert str(refused.value) == f"{b}:2: not UTF-8 text (byte 0xe9)"


def test_from_the_shell_warnings_print_path_line_and_the_import_exits_0(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "LBADMIN_DATA_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    path = CORPUS / "include_main.conf"
    result = subprocess.run([sys.executable, "manage.py", "import_keepalived", "--dry-run", str(path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"warning: {CORPUS / 'include' / 'conf.d' / '20-smtp.conf'}:7: quorum 1 not imported" in result.stderr
    warnings = result.stderr.count("warning: ")
    assert result.stdout.endswith(f"dry run: 2 added, 0 changed, 0 removed would be made; nothing changed "
                                  f"({warnings} warnings on stderr)\n")
