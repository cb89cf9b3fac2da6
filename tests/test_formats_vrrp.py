"""The VRRP-only keepalived.conf (virtualservers/formats/vrrp.py), checked by keepalived
itself (`keepalived -t`, Debian's 2.2.7, installed by .ci/run)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from virtualservers.formats.vrrp import GroupSettings, Member, Vip, VrrpConfig, prefix_of, render_vrrp, split_device

# keepalived -t checks that interfaces exist: use one this machine has (not lo, which VRRP refuses).
IFACE = next((p.name for p in sorted(Path("/sys/class/net").iterdir()) if p.name != "lo"), "eth0")
GROUP = GroupSettings(name="cas", virtual_router_id=51, interface=IFACE, advert_interval=0.1,
                      preempt=False, unicast=True, sync_daemon=True, sync_id=5, garp_master_refresh=60,
                      notify="/usr/local/lib/lbadmin/vrrp-notify")
PRIMARY = Member("dirA", 150, "192.0.2.5")
BACKUP = Member("dirB", 100, "192.0.2.6")


def config(*vips: Vip, group: GroupSettings = GROUP) -> VrrpConfig:
    return VrrpConfig(group, PRIMARY, (BACKUP,), tuple(vips))


def keepalived_accepts(text: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return subprocess.run([shutil.which("keepalived") or "/usr/sbin/keepalived", "-t", "-f", str(path)],
                          capture_output=True, text=True, timeout=30)


def test_the_article_vip_becomes_one_instance_with_its_device_label(tmp_path):
    text = render_vrrp(config(Vip("192.0.2.50", 32, IFACE, f"{IFACE}:1")))
    assert "vrrp_instance lbadmin_cas_v4 {" in text
    assert f"        192.0.2.50/32 dev {IFACE} label {IFACE}:1" in text
    assert "    nopreempt" in text and "    state BACKUP" in text and "advert_int 0.1" in text
    assert "unicast_src_ip 192.0.2.5" in text and "        192.0.2.6" in text
    assert f"lvs_sync_daemon {IFACE} inst lbadmin_cas_v4 id 5" in text
    assert "vrrp_sync_group" not in text
    assert "virtual_server" not in text  # IPVS stays lbadmin's
    done = keepalived_accepts(text, tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout


def test_two_families_make_two_instances_that_move_together(tmp_path):
    text = render_vrrp(config(Vip("192.0.2.50", 32, IFACE), Vip("2001:db8::50", 128, IFACE)))
    assert "vrrp_instance lbadmin_cas_v4" in text and "vrrp_instance lbadmin_cas_v6" in text
    assert "vrrp_sync_group lbadmin_cas {" in text
    assert text.count('notify "/usr/local/lib/lbadmin/vrrp-notify"') == 1  # on the sync group
    assert "unicast_src_ip 192.0.2.5" in text.split("vrrp_instance lbadmin_cas_v4 {")[1]
    v6 = text.split("vrrp_instance lbadmin_cas_v6 {")[1]
    assert "unicast_src_ip" not in v6  # the peers' IPv4 addresses cannot carry IPv6 adverts
    done = keepalived_accepts(text, tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout


def test_no_vip_means_no_instance_keepalived_would_refuse(tmp_path):
    text = render_vrrp(config())
    assert "vrrp_instance" not in text and "lvs_sync_daemon" not in text
    done = keepalived_accepts(text, tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout


def test_preempt_delay_is_written_only_when_preempting():
    with_delay = GroupSettings(name="g", virtual_router_id=7, interface="eth0", preempt=True, preempt_delay=30)
    text = render_vrrp(config(Vip("192.0.2.50", 32, "eth0"), group=with_delay))
    assert "preempt_delay 30" in text and "nopreempt" not in text


def test_the_same_input_gives_the_same_bytes():
    vips = [Vip("192.0.2.51", 32, "eth0"), Vip("192.0.2.50", 32, "eth0", "eth0:1")]
    assert render_vrrp(config(*vips)) == render_vrrp(config(*reversed(vips)))


@pytest.mark.parametrize("vip", [
    Vip("192.0.2.50", 32, 'eth0"\nvrrp_script x {'),
    Vip("192.0.2.50", 32, "eth0", "eth0:1 }"),
    Vip("192.0.2.50", 33, "eth0"),
])
def test_it_refuses_a_value_that_would_add_a_directive(vip):
    with pytest.raises(ValueError):
        render_vrrp(config(vip))


def test_netmasks_and_devices_as_piranha_wrote_them():
    assert prefix_of("255.255.255.255", 4) == 32 and prefix_of("255.255.255.0", 4) == 24
    assert prefix_of("", 4) == 32 and prefix_of("", 6) == 128 and prefix_of("64", 6) == 64
    assert split_device("eth0:1", "bond0") == ("eth0", "eth0:1")
    assert split_device("eth1", "bond0") == ("eth1", "")
    assert split_device("", "bond0") == ("bond0", "")
