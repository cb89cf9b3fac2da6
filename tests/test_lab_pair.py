"""The lab's director pair (dirA, dirB on one segment, lab/topology.py): what lbadmin's
VRRP failover will be proven on. These prove the lab, not lbadmin: each director is its
own SSH host with its own IPVS table, sync daemon and keepalived, and a director killed
for real hands its VIP to the other within a measured, sub-second outage.
"""

from __future__ import annotations

import time

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab import topology
from lab.probe import ProbeLine, outages, parse_probe
from lab.vm import LabVM
from tests.lab_fixtures import lab_pair, lab_vm  # noqa: F401, F811  (fixtures)
from virtualservers.ipvs import SSHExecutor

pytestmark = pytest.mark.lab

DIRECTORS = tuple(topology.PAIR_DIRECTORS)  # ("dirA", "dirB")
VIP = topology.PAIR_VIP_POOL_V4[0]
PRS1, PRS2 = (rs.ipv4 for rs in topology.PAIR_REAL_SERVERS.values())
PRIORITIES = {"dirA": 150, "dirB": 100}


def keepalived_conf(director: str) -> str:
    """Two-node VRRP v3 as lab.md saw it work: both BACKUP and nopreempt, 0.1 s adverts."""
    return f"""global_defs {{
    router_id {director}
    vrrp_version 3
}}

vrrp_instance lab_pair {{
    state BACKUP
    nopreempt
    interface {topology.PAIR_INTERFACE}
    virtual_router_id 51
    priority {PRIORITIES[director]}
    advert_int 0.1
    virtual_ipaddress {{
        {VIP}/32 dev {topology.PAIR_INTERFACE}
    }}
}}
"""


def direct_routing_table(vip: str) -> str:
    """ipvsadm -R input: HTTP over both pair real servers, echo to prs1 only."""
    http, echo = f"{vip}:{topology.HTTP_PORT}", f"{vip}:{topology.ECHO_PORT}"
    return (f"-A -t {http} -s rr\n-a -t {http} -r {PRS1}:{topology.HTTP_PORT} -g -w 1\n"
            f"-a -t {http} -r {PRS2}:{topology.HTTP_PORT} -g -w 1\n"
            f"-A -t {echo} -s rr\n-a -t {echo} -r {PRS1}:{topology.ECHO_PORT} -g -w 1\n")


def start_keepalived_pair(vm: LabVM) -> str:
    """Configure and start keepalived on both directors; the one that takes the VIP."""
    for director in DIRECTORS:
        vm.write_director_file(director, topology.KEEPALIVED_CONF, keepalived_conf(director))
        vm.check_on_director(director, ["keepalived", "-f", topology.KEEPALIVED_CONF])
    holders, _ = vm.wait_for_vip_holders(VIP, timeout=15)
    return holders[0]


def wait_until_synced(vm: LabVM, director: str, virtual: str, timeout: float = 10.0) -> float:
    """Poll director's connection table until the sync daemon has brought a connection to
    virtual (the master flushes its sync buffer about every 2 s); returns the seconds."""
    began = time.monotonic()
    while virtual not in vm.check_on_director(director, ["ipvsadm", "-L", "-n", "-c"]):
        assert time.monotonic() - began < timeout, f"no connection to {virtual} synced to {director}"
        time.sleep(0.2)
    return time.monotonic() - began


def other(director: str) -> str:
    return next(d for d in DIRECTORS if d != director)


def test_each_director_answers_ssh_with_the_guests_pinned_host_key(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        client = lab_pair.connect_director(director)
        try:
            served = client.get_transport().get_remote_server_key()  # type: ignore[union-attr]
            assert f"{served.get_name()} {served.get_base64()}" == lab_pair.host_key
            _, stdout, _ = client.exec_command("hostname; ip -4 -o address show dev eth0")
            out = stdout.read().decode()
        finally:
            client.close()
        assert out.splitlines()[0] == director
        assert f" {topology.PAIR_DIRECTORS[director].ipv4}/" in out


def test_a_director_refuses_a_host_that_pins_another_key(lab_pair: LabVM) -> None:
    other_key = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

    with pytest.raises(paramiko.BadHostKeyException):
        lab_pair.connect_director("dirB", host_key=other_key)


def test_lbadmins_ssh_executor_drives_each_directors_own_table(lab_pair: LabVM) -> None:
    executors = {
        director: SSHExecutor(*lab_pair.director_endpoint(director), lab_pair.ssh_user,
                              str(lab_pair.key_path), lab_pair.host_key, timeout=60)
        for director in DIRECTORS
    }
    try:
        executors["dirA"].restore(direct_routing_table(VIP).splitlines())

        assert f"-A -t {VIP}:{topology.HTTP_PORT} -s rr" in executors["dirA"].save().splitlines()
        assert executors["dirB"].save() == ""
        assert VIP not in lab_pair.ipvsadm_save()  # nor in the guest's root namespace
    finally:
        for executor in executors.values():
            executor.close()


def test_each_director_sees_its_own_keepalived_directory(lab_pair: LabVM) -> None:
    lab_pair.write_director_file("dirA", topology.KEEPALIVED_CONF, keepalived_conf("dirA"))

    rc, _, _ = lab_pair.run_on_director("dirB", ["test", "-e", topology.KEEPALIVED_CONF])
    on_disk = lab_pair.check(["cat", f"{topology.PAIR_CONFIG_ROOT}/dirA/keepalived/keepalived.conf"])

    assert rc == 1
    assert on_disk == keepalived_conf("dirA")


def test_keepalived_checks_a_config_in_each_director(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.write_director_file(director, topology.KEEPALIVED_CONF, keepalived_conf(director))

        rc, out, err = lab_pair.run_on_director(director, ["keepalived", "-t", "-f", topology.KEEPALIVED_CONF])

        assert rc == 0, out + err

    lab_pair.write_director_file("dirA", topology.KEEPALIVED_CONF, "vrrp_instance broken {\n")
    assert lab_pair.run_on_director("dirA", ["keepalived", "-t", "-f", topology.KEEPALIVED_CONF])[0] != 0


def test_the_sync_daemon_runs_in_each_director_on_its_own(lab_pair: LabVM) -> None:
    for director, role in (("dirA", "master"), ("dirB", "backup")):
        lab_pair.check_on_director(director, ["ipvsadm", "--start-daemon", role, "--mcast-interface",
                                              topology.PAIR_INTERFACE, "--syncid", "9"])

    daemons = {d: lab_pair.check_on_director(d, ["ipvsadm", "-L", "--daemon"]) for d in DIRECTORS}

    assert "master sync daemon (mcast=eth0, syncid=9," in daemons["dirA"]
    assert "backup" not in daemons["dirA"]
    assert "backup sync daemon (mcast=eth0, syncid=9," in daemons["dirB"]
    assert lab_pair.check(["ipvsadm", "-L", "--daemon"]) == ""


def test_the_vip_is_held_by_exactly_one_director_and_reaches_the_real_servers(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.check_on_director(director, ["ipvsadm", "-R"], input=direct_routing_table(VIP))

    holder = start_keepalived_pair(lab_pair)

    assert lab_pair.vip_holders(VIP) == [holder]
    probe = lab_pair.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=100, duration_s=1)
    lines = lab_pair.probe_results(probe)
    assert lines and all(line.ok for line in lines), lines
    assert {line.detail for line in lines} == {"prs1", "prs2"}  # direct routing, rr


def test_a_killed_master_hands_the_vip_over_within_two_seconds(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.check_on_director(director, ["ipvsadm", "-R"], input=direct_routing_table(VIP))
    holder = start_keepalived_pair(lab_pair)
    probe = lab_pair.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=50, duration_s=6)
    lab_pair.wait_for_probe_lines(probe, 10)

    lab_pair.kill_director(holder)
    holders, seconds = lab_pair.wait_for_vip_holders(VIP, exclude=[holder], timeout=5)

    lines = lab_pair.probe_results(probe)
    gaps = outages(lines)
    print(f"VIP {holder} -> {holders[0]}: seen after {seconds:.2f} s (SSH polling), "
          f"client outage {[round(g.seconds, 3) for g in gaps]} s over {len(lines)} probes")
    assert holders == [other(holder)]
    assert seconds < 2.0
    assert len(gaps) == 1 and gaps[0].seconds < 2.0, [line for line in lines if not line.ok]
    assert lines[0].ok and lines[-1].ok


def test_a_revived_director_boots_into_backup_and_the_vip_stays(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.check_on_director(director, ["ipvsadm", "-R"], input=direct_routing_table(VIP))
    holder = start_keepalived_pair(lab_pair)
    lab_pair.kill_director(holder)
    lab_pair.wait_for_vip_holders(VIP, exclude=[holder])
    with pytest.raises((paramiko.SSHException, OSError, EOFError)):
        lab_pair.connect_director(holder, timeout=5).close()  # dead: nothing answers SSH

    lab_pair.revive_director(holder)

    assert lab_pair.check_on_director(holder, ["ipvsadm", "-S", "-n"]) == ""  # a fresh boot
    # keepalived started at boot, from the config in the director's own /etc/keepalived.
    assert lab_pair.run_on_director(holder, ["sh", "-c", "kill -0 $(cat /run/keepalived.pid)"])[0] == 0
    lab_pair.check_on_director(holder, ["ipvsadm", "-R"], input=direct_routing_table(VIP))
    probe = lab_pair.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=100, duration_s=2)
    lines = lab_pair.probe_results(probe)
    assert lab_pair.vip_holders(VIP) == [other(holder)]  # nopreempt: the survivor keeps it
    assert all(line.ok for line in lines), lines


def test_a_held_connection_breaks_over_a_failover_without_connection_sync(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.check_on_director(director, ["ipvsadm", "-R"], input=direct_routing_table(VIP))
    holder = start_keepalived_pair(lab_pair)
    probe = lab_pair.start_probe("hold", VIP, topology.ECHO_PORT, interval_ms=100, duration_s=6)
    lab_pair.wait_for_probe_lines(probe, 5)

    lab_pair.kill_director(holder)

    lines = lab_pair.probe_results(probe)
    assert lines[0].ok and lines[-1].status == "end", lines
    assert lines[-1].detail.startswith("broken"), lines  # the new master knows no such connection


def test_a_held_connection_survives_a_failover_with_connection_sync(lab_pair: LabVM) -> None:
    for director in DIRECTORS:
        lab_pair.check_on_director(director, ["ipvsadm", "-R"], input=direct_routing_table(VIP))
    # Both run both daemons, as lbadmin will: whichever is master sends, the other receives.
    for director in DIRECTORS:
        for role in ("master", "backup"):
            lab_pair.check_on_director(director, ["ipvsadm", "--start-daemon", role, "--mcast-interface",
                                                  topology.PAIR_INTERFACE, "--syncid", "51"])
    holder = start_keepalived_pair(lab_pair)
    probe = lab_pair.start_probe("hold", VIP, topology.ECHO_PORT, interval_ms=100, duration_s=10)
    wait_until_synced(lab_pair, other(holder), f"{VIP}:{topology.ECHO_PORT}")

    lab_pair.kill_director(holder)

    lines = lab_pair.probe_results(probe)
    slowest = max(int(line.detail) for line in lines if line.ok)
    print(f"held connection: {lines[-1].detail}, slowest echo {slowest} ms")
    assert lines[-1].status == "end" and lines[-1].detail.startswith("survived"), lines


def test_it_finds_the_outage_between_good_probes() -> None:
    lines = parse_probe("1.000 ok prs1\n1.050 fail connect: timed out\n1.300 fail connect: timed out\n"
                        "1.550 ok prs2\n1.600 ok prs1\n")

    assert lines[1] == ProbeLine(1.05, "fail", "connect: timed out")
    gap, = outages(lines)
    assert (gap.failures, round(gap.seconds, 3)) == (2, 0.55)
