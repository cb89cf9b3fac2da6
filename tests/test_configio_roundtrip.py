"""Round trips through the database, with hypothesis: what export_lvscf writes,
import_lvscf reads back as the same configuration; the same for the JSON backup.

The generated configurations are the format tests' (tests/test_formats_strategies.py),
made acceptable to the database's own rules (unique endpoints, a persistence mask only
with persistence, a regex that compiles, ...), so a failure is a bug in the Django side.
"""
import dataclasses
import re
import shlex
from io import StringIO

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings

from lbadmin.models import Director
from tests.test_formats_strategies import configs, lvscf_configs
from virtualservers import configio
from virtualservers.formats.config import Config, config_problems
from virtualservers.formats.validate import validate_program_location

DB_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def any_check_program_dir():
    """The corpus and generated configurations name programs in /usr/local/bin, /bin...;
    the check program directory rule has tests of its own (tests/test_check_program_rules.py)."""
    from django.test import override_settings

    with override_settings(LBADMIN_CHECK_PROGRAM_DIR="/"):
        yield


def _service_key(vs):
    return ("fwmark", vs.fwmark) if vs.fwmark is not None else (vs.protocol, vs.address, vs.port)


def database_valid(config: Config) -> Config:
    """The same configuration, changed only where the database's rules are stricter."""
    config = dataclasses.replace(config)
    r = config.redundancy
    if r.deadtime <= r.keepalive:
        r.deadtime = r.keepalive + 1
    if r.backup_active and not r.backup:
        r.backup_active = False
    c = config.cluster
    if c.network == "nat" and c.nat_router_device and not c.nat_router_ip:
        c.nat_router_device = ""
    seen, servers = set(), []
    for vs in config.virtual_servers:
        if _service_key(vs) in seen:
            continue
        seen.add(_service_key(vs))
        if vs.fwmark is not None and vs.protocol == "sctp":
            vs.protocol = "tcp"
        if not vs.persistent:
            vs.pmask = ""
        if vs.sorry_port is not None and not vs.sorry_server:
            vs.sorry_port = None
        endpoints, real = set(), []
        for rs in vs.real_servers:
            if (rs.address, rs.port) not in endpoints:
                endpoints.add((rs.address, rs.port))
                real.append(rs)
        vs.real_servers = sorted(real, key=lambda r: r.name)  # the database has no order: by name
        hc = vs.health_check
        try:
            shlex.split(hc.send_program)
            if hc.check_type == "program":  # the check program directory rule (here "/")
                validate_program_location(hc.send_program, "/")
        except ValueError:
            hc.send_program = "/bin/true %h %p"
        if hc.use_regex:
            for name in ("expect", "http_body"):
                try:
                    re.compile(getattr(hc, name))
                except re.error:
                    hc.use_regex = False
        if hc.check_type == "udp" and not hc.send:
            hc.send = "ping"
        if hc.http_method not in ("GET", "HEAD", "POST", "OPTIONS"):
            hc.http_method = "GET"
        servers.append(vs)
    config.virtual_servers = sorted(servers, key=lambda s: s.name)
    assert config_problems(config) == []
    return config


def export_text(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out, stderr=StringIO())
    return out.getvalue()


def import_file(tmp_path, command: str, text: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    call_command(command, str(path), "--replace", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
@DB_SETTINGS
@given(lvscf_configs().map(database_valid))
def test_an_exported_lvscf_imports_back_as_the_same_configuration(tmp_path, config):
    configio.write_config(config, replace=True)
    stored = configio.read_config()
    assert stored == config  # the database keeps what it was given
    text = export_text("export_lvscf")
    configio.write_config(Config(), replace=True)  # empty it, so the import starts from nothing
    assert configio.read_config().virtual_servers == []
    import_file(tmp_path, "import_lvscf", text, "exported.cf")
    assert configio.read_config() == stored


def add_directors(config: Config) -> None:
    """The directors the configuration names: a restore refuses names it does not know."""
    for name in {name for vs in config.virtual_servers for name in vs.directors}:
        Director.objects.get_or_create(name=name, defaults={"address": "127.0.0.1", "transport": "local"})


@pytest.mark.django_db
@DB_SETTINGS
@given(configs().map(database_valid))
def test_a_backup_restores_as_the_same_configuration(tmp_path, config):
    # Every field the backup has, the new ones included: check targets, slow start, directors.
    add_directors(config)
    configio.write_config(config, replace=True)
    stored = configio.read_config()
    assert stored == config
    text = export_text("backup_config")
    configio.write_config(Config(), replace=True)
    path = tmp_path / "backup.json"
    path.write_text(text, encoding="utf-8")
    call_command("restore_config", str(path), stdout=StringIO(), stderr=StringIO())
    assert configio.read_config() == stored
