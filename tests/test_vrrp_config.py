"""Each director's keepalived.conf: built from its group and the active virtual servers,
installed through the director scripts (here on this host, with a stand-in keepalived
that checks like `keepalived -t` and records reloads), audited, and read back."""
import os
import signal
import stat

import pytest

from lbadmin.models import AuditEntry, ClusterSettings, Director, RedundancyGroup
from tests import factories
from virtualservers import ipvs
from virtualservers.formats.vrrp import parse_vrrp_status
from virtualservers.vrrp_config import converge_keepalived, desired_keepalived, vips_for

FAKE_KEEPALIVED = """#!/bin/sh
# keepalived stand-in: -t checks the file (refuses one holding BROKEN), -f starts (pid file).
log="$(dirname "$0")/calls"
echo "$*" >> "$log"
if [ "$1" = "-t" ]; then
    if grep -q BROKEN "$3"; then echo "(line 1) Unknown keyword 'BROKEN'" >&2; exit 1; fi
    exit 0
fi
sleep 300 >/dev/null 2>&1 &
echo $! > "$4"
"""


@pytest.fixture
def fake_keepalived(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "keepalived"
    program.write_text(FAKE_KEEPALIVED)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    yield bin_dir
    pid = tmp_path / "run" / "keepalived.pid"
    if pid.exists():
        try:
            os.kill(int(pid.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass  # never started, or gone already


@pytest.fixture
def pair(db, tmp_path):
    group = RedundancyGroup.objects.create(name="cas", virtual_router_id=51, interface="eth0",
                                           advert_interval="0.1", preempt=False, sync_id=5)
    def member(name, priority):
        d = factories.director(name=name, group=group, priority=priority,
                               keepalived_conf=str(tmp_path / name / "keepalived.conf"),
                               keepalived_pidfile=str(tmp_path / "run" / "keepalived.pid"),
                               state_dir=str(tmp_path / name / "state"))
        return d
    return member("dirA", 150), member("dirB", 100)


@pytest.mark.django_db
def test_the_active_virtual_servers_vips_float_on_their_devices(pair):
    factories.virtual_server(active=True, address="192.0.2.50", device="eth0:1")
    factories.virtual_server(name="Exchange-80", active=True, address="192.0.2.50", port=80, device="eth0:1")
    factories.virtual_server(name="idle", active=False, address="192.0.2.99", port=80)
    vips = vips_for(pair[0], "eth0")
    assert [(v.address, v.prefix, v.device, v.label) for v in vips] == [("192.0.2.50", 32, "eth0", "eth0:1")]
    text = desired_keepalived(pair[0])
    assert "192.0.2.50/32 dev eth0 label eth0:1" in text and "192.0.2.99" not in text
    assert "priority 150" in text and "priority 100" in desired_keepalived(pair[1])


@pytest.mark.django_db
def test_in_nat_the_real_servers_gateway_floats_with_the_vips(pair):
    cluster = ClusterSettings.load()
    cluster.network, cluster.nat_router_ip, cluster.nat_router_device, cluster.nat_nmask = \
        "nat", "10.10.0.254", "eth1:1", "255.255.255.0"
    cluster.save()
    factories.virtual_server(active=True, address="192.0.2.50", forwarding="")
    assert "10.10.0.254/24 dev eth1 label eth1:1" in desired_keepalived(pair[0])


@pytest.mark.django_db
def test_a_director_outside_any_group_gets_no_file(db):
    assert desired_keepalived(factories.director(name="alone")) is None


@pytest.mark.django_db
def test_a_virtual_server_limited_to_the_primary_is_carried_by_the_backup_too(pair):
    vs = factories.virtual_server(active=True)
    vs.directors.set([pair[0]])
    assert list(vs.target_directors().order_by("name")) == list(pair)
    assert "192.0.2.50" in desired_keepalived(pair[1])


@pytest.mark.django_db
def test_it_installs_checks_starts_and_audits_then_does_nothing(pair, fake_keepalived, tmp_path):
    primary = pair[0]
    factories.virtual_server(active=True)
    executor = ipvs.LocalExecutor()
    outcome = converge_keepalived(primary, executor, verify_remote=True)
    assert outcome.changed and outcome.output == "started"
    conf = tmp_path / "dirA" / "keepalived.conf"
    assert conf.read_text() == desired_keepalived(primary)
    assert os.access(tmp_path / "dirA" / "state" / "vrrp-notify", os.X_OK)
    assert not (tmp_path / "dirA" / "keepalived.conf.lbadmin-new").exists()
    entry = AuditEntry.objects.get(action="keepalived")
    assert entry.object_repr == "dirA" and entry.after["keepalived.conf"] == conf.read_text().splitlines()
    primary.refresh_from_db()
    assert primary.vrrp_applied == conf.read_text()
    again = converge_keepalived(primary, executor, verify_remote=True)
    assert not again.changed
    assert AuditEntry.objects.filter(action="keepalived").count() == 1


@pytest.mark.django_db
def test_a_file_someone_edited_is_found_by_the_sweep_and_replaced_with_a_reload(pair, fake_keepalived, tmp_path):
    primary = pair[0]
    factories.virtual_server(active=True)
    executor = ipvs.LocalExecutor()
    converge_keepalived(primary, executor, verify_remote=True)
    conf = tmp_path / "dirA" / "keepalived.conf"
    conf.write_text(conf.read_text() + "# hand edit\n")
    assert not converge_keepalived(primary, executor, verify_remote=False).changed  # no read: nothing known
    outcome = converge_keepalived(primary, executor, verify_remote=True)
    assert outcome.changed and outcome.output == "reloaded"
    assert "-# hand edit" in outcome.diff
    assert "# hand edit" not in conf.read_text()


@pytest.mark.django_db
def test_a_file_keepalived_refuses_never_replaces_the_running_one(pair, fake_keepalived, tmp_path, monkeypatch):
    primary = pair[0]
    factories.virtual_server(active=True)
    executor = ipvs.LocalExecutor()
    converge_keepalived(primary, executor, verify_remote=True)
    conf = tmp_path / "dirA" / "keepalived.conf"
    good = conf.read_text()
    monkeypatch.setattr("virtualservers.vrrp_config.render_vrrp", lambda config: "BROKEN\n")
    with pytest.raises(ipvs.CommandFailed) as refused:
        converge_keepalived(primary, executor, verify_remote=True)
    assert "keepalived -t refused the new file" in str(refused.value) and "Unknown keyword" in str(refused.value)
    assert conf.read_text() == good
    assert not (tmp_path / "dirA" / "keepalived.conf.lbadmin-new").exists()


def test_the_status_lines_read_back_from_a_director():
    status = parse_vrrp_status(
        "keepalived running 4242\n--- transitions\n"
        "1764620000.125000000 INSTANCE lbadmin_cas_v4 BACKUP 150\n"
        "garbage that someone wrote\n"
        "1764620003.500000000 INSTANCE lbadmin_cas_v4 MASTER 150\n"
        "--- daemons\nmaster sync daemon (mcast=eth0, syncid=5)\nbackup sync daemon (mcast=eth0, syncid=5)\n"
        "--- connections\n17\n")
    assert status.keepalived_running and status.state() == "MASTER"
    assert [t.state for t in status.transitions] == ["BACKUP", "MASTER"]
    assert status.daemons == ("master", "backup") and status.connections == 17
    stopped = parse_vrrp_status("keepalived stopped\n--- transitions\n1 INSTANCE lbadmin_cas_v4 MASTER 150\n")
    assert stopped.state() == "STOPPED"


@pytest.mark.django_db
def test_director_fields_are_checked(db):
    director = Director(name="d", address="127.0.0.1", transport="local", priority=255, keepalived_conf="relative")
    with pytest.raises(Exception) as refused:
        director.full_clean()
    assert "priority" in refused.value.message_dict and "keepalived_conf" in refused.value.message_dict
