"""lbadmin's redundancy against the lab's director pair (dirA, dirB: real IPVS kernels,
real keepalived, one layer-2 segment with two direct-routing real servers and a client).

lbadmin writes each director's VRRP-only keepalived.conf, keepalived raises the VIPs,
lbadmin's reconcile keeps both IPVS tables equal, the live poll reads back the VRRP state
from keepalived's notify hook, and a director killed for real hands its VIPs over while a
client probes through them."""
from __future__ import annotations

import time

import pytest

from lab import topology
from lab.probe import outages
from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import AuditEntry, Director, RedundancyGroup, VrrpTransition
from monitoring.live_poller import poll_director
from tests import factories
from tests.lab_fixtures import lab_pair, lab_vm  # noqa: F401  (fixtures)
from virtualservers.models import RealServer, VirtualServer
from virtualservers.reconcile import reconcile_director

pytestmark = pytest.mark.lab

VIP = topology.PAIR_VIP_POOL_V4[1]
PRS = list(topology.PAIR_REAL_SERVERS.values())


def make_group(**fields) -> RedundancyGroup:
    values = dict(name="lab-pair", virtual_router_id=52, interface=topology.PAIR_INTERFACE,
                  advert_interval="0.1", preempt=False, sync_daemon=True, sync_id=7)
    values.update(fields)
    group = RedundancyGroup(**values)
    group.full_clean()
    group.save()
    return group


def register(vm, group: RedundancyGroup | None, *names: str) -> list[Director]:
    priorities = {"dirA": 150, "dirB": 100}
    return [register_lab_director(vm, name, pair=name, group=group, priority=priorities[name]) for name in names]


def web_service(vip: str = VIP, *, echo: bool = False) -> VirtualServer:
    """HTTP (and the echo port for held connections) over both pair real servers, direct routing."""
    vs = factories.virtual_server(name=f"web-{vip}", address=vip, port=topology.HTTP_PORT, active=True,
                                  persistent=0, pmask="", device=topology.PAIR_INTERFACE, forwarding="direct")
    for rs in PRS:
        factories.real_server(vs, name=rs.name, address=rs.ipv4, admin_state="enabled")
    if echo:
        factories.virtual_server(name=f"echo-{vip}", address=vip, port=topology.ECHO_PORT, active=True,
                                 persistent=0, pmask="", device=topology.PAIR_INTERFACE, forwarding="direct")
        factories.real_server(VirtualServer.objects.get(name=f"echo-{vip}"), name=PRS[0].name,
                              address=PRS[0].ipv4, admin_state="enabled")
    return vs


def reconcile_all(directors: list[Director], trigger: str = "change") -> None:
    for director in directors:
        reconcile_director(director.pk, trigger)


def wait_for_state(director: Director, state: str, timeout: float = 15) -> Director:
    """Poll the director as the live poller does until lbadmin has read `state` from it."""
    deadline = time.monotonic() + timeout
    while True:
        poll_director(director)
        director.refresh_from_db()
        if director.vrrp_state == state:
            return director
        assert time.monotonic() < deadline, f"{director} is {director.vrrp_state!r}, not {state}"
        time.sleep(0.3)


def bodies_through(vm, vip: str, n: int = 4) -> set[str]:
    probe = vm.start_probe("http", vip, topology.HTTP_PORT, interval_ms=100, duration_s=max(1, n // 10 + 1))
    return {line.detail if line.ok else "FAIL" for line in vm.probe_results(probe)}


@pytest.mark.django_db(transaction=True)
def test_a_lone_director_raises_the_vip_of_a_new_service_and_drops_it_with_the_last_one(lab_pair):
    (alone,) = register(lab_pair, make_group(name="solo", virtual_router_id=61), "dirA")
    assert lab_pair.vip_holders(VIP) == []

    vs = web_service()
    reconcile_all([alone])

    holders, _ = lab_pair.wait_for_vip_holders(VIP, timeout=15)
    assert holders == ["dirA"]
    assert bodies_through(lab_pair, VIP) == {"prs1", "prs2"}
    wait_for_state(alone, "MASTER")
    assert AuditEntry.objects.filter(action="keepalived", object_repr="dirA").exists()

    vs.delete()
    reconcile_all([alone])
    lab_pair.wait_for_vip_holders(VIP, count=0, timeout=15)
    assert lab_pair.check_on_director("dirA", ["ipvsadm", "-S", "-n"]) == ""


@pytest.mark.django_db(transaction=True)
def test_the_pair_carries_one_table_and_reports_master_and_backup(lab_pair):
    directors = register(lab_pair, make_group(), "dirA", "dirB")
    web_service()
    reconcile_all(directors)

    holders, _ = lab_pair.wait_for_vip_holders(VIP, timeout=15)
    assert holders == ["dirA"]  # the higher priority
    tables = {d.name: lab_pair.check_on_director(d.name, ["ipvsadm", "-S", "-n"]) for d in directors}
    assert tables["dirA"] == tables["dirB"] and VIP in tables["dirA"]
    primary, backup = wait_for_state(directors[0], "MASTER"), wait_for_state(directors[1], "BACKUP")
    assert VrrpTransition.objects.filter(director=primary, state="MASTER").exists()
    assert VrrpTransition.objects.filter(director=backup, state="BACKUP").exists()
    daemons = {d: lab_pair.check_on_director(d, ["ipvsadm", "-L", "--daemon"]) for d in ("dirA", "dirB")}
    assert "master sync daemon" in daemons["dirA"] and "syncid=7" in daemons["dirA"]
    assert "backup sync daemon" in daemons["dirB"]


@pytest.mark.django_db(transaction=True)
def test_killing_the_master_moves_the_vip_keeps_the_held_connection_and_a_change_reaches_both(lab_pair):
    directors = register(lab_pair, make_group(), "dirA", "dirB")
    primary, backup = directors
    web_service(echo=True)
    reconcile_all(directors)
    lab_pair.wait_for_vip_holders(VIP, timeout=15)
    wait_for_state(primary, "MASTER")
    wait_for_state(backup, "BACKUP")

    held = lab_pair.start_probe("hold", VIP, topology.ECHO_PORT, interval_ms=100, duration_s=8)
    probe = lab_pair.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=50, duration_s=8)
    lab_pair.wait_for_probe_lines(probe, 10)
    # The master's sync daemon sends its buffer about every 2 s: wait until the backup
    # knows the held connection, as a connection older than that would be.
    deadline = time.monotonic() + 10
    while f"{VIP}:{topology.ECHO_PORT}" not in lab_pair.check_on_director("dirB", ["ipvsadm", "-L", "-n", "-c"]):
        assert time.monotonic() < deadline, "the held connection never reached the backup"
        time.sleep(0.2)

    lab_pair.kill_director("dirA")
    holders, seconds = lab_pair.wait_for_vip_holders(VIP, exclude=["dirA"], timeout=5)
    assert holders == ["dirB"]

    # A change made during the outage: the backup gets it now, the dead master when it is back.
    rs = RealServer.objects.get(virtual_server__name=f"web-{VIP}", name="prs2")
    rs.weight = 3
    rs.save()
    reconcile_director(backup.pk, "change")
    with pytest.raises(Exception):
        reconcile_director(primary.pk, "change")
    primary.refresh_from_db()
    assert primary.status == Director.Status.UNREACHABLE

    lines = lab_pair.probe_results(probe)
    gaps = outages(lines)
    held_lines = lab_pair.probe_results(held)
    print(f"failover seen by SSH after {seconds:.2f} s; client outage {[round(g.seconds, 3) for g in gaps]} s; "
          f"held connection: {held_lines[-1].detail if held_lines else 'no output'}")
    assert lines[0].ok and lines[-1].ok, lines[:3] + lines[-3:]
    assert len(gaps) <= 1
    assert held_lines and held_lines[-1].status == "end" and held_lines[-1].detail.startswith("survived")
    wait_for_state(backup, "MASTER")

    lab_pair.revive_director("dirA")
    reconcile_director(primary.pk, "director reachable again")
    assert (lab_pair.check_on_director("dirA", ["ipvsadm", "-S", "-n"])
            == lab_pair.check_on_director("dirB", ["ipvsadm", "-S", "-n"]))
    assert "-w 3" in lab_pair.check_on_director("dirA", ["ipvsadm", "-S", "-n"])
    # nopreempt: the returning director of higher priority leaves the VIP where it is.
    wait_for_state(primary, "BACKUP")
    time.sleep(2)
    assert lab_pair.vip_holders(VIP) == ["dirB"]


@pytest.mark.django_db(transaction=True)
def test_with_preempt_the_returning_primary_takes_the_vip_back(lab_pair):
    directors = register(lab_pair, make_group(preempt=True, preempt_delay=1), "dirA", "dirB")
    primary, backup = directors
    web_service()
    reconcile_all(directors)
    lab_pair.wait_for_vip_holders(VIP, timeout=15)
    wait_for_state(primary, "MASTER")

    lab_pair.kill_director("dirA")
    lab_pair.wait_for_vip_holders(VIP, exclude=["dirA"], timeout=5)
    lab_pair.revive_director("dirA")
    reconcile_director(primary.pk, "director reachable again")

    holders, _ = lab_pair.wait_for_vip_holders(VIP, exclude=["dirB"], timeout=15)
    assert holders == ["dirA"]
    wait_for_state(primary, "MASTER")
    wait_for_state(backup, "BACKUP")
    assert bodies_through(lab_pair, VIP) == {"prs1", "prs2"}
