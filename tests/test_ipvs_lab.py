"""The IPVS engine against a real kernel: the lab director VM (lab/), over SSH.

This is the proof behind the unit tests: the text render() writes is byte for byte what
the real `ipvsadm -S -n` prints, plans applied through SSHExecutor.restore() give the
desired table, and real ipvsadm errors map to the engine's exceptions.
Addresses are the lab's own (inside the guest); no traffic is sent here.
"""

from __future__ import annotations

import dataclasses

import pytest

from lab import topology
from lab.vm import LabVM
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401
from virtualservers.ipvs import (
    CommandFailed, DestRef, Destination, HostKeyMismatch, Service, ServiceKey, SSHExecutor,
    Table, parse_list, parse_rate, parse_save, parse_stats, plan, render, set_timeouts,
)

from .test_ipvs_support import key_line, new_ed25519_key

pytestmark = pytest.mark.lab

RS1, RS2 = topology.REAL_SERVERS["rs1"], topology.REAL_SERVERS["rs2"]
V4, V6 = topology.VIP_POOL_V4, topology.VIP_POOL_V6

WEB = ServiceKey("tcp", V4[0], 80)
DNS = ServiceKey("udp", V4[1], 53)
WEB6 = ServiceKey("tcp", V6[0], 443)
MARK = ServiceKey.for_fwmark(7)
MARK6 = ServiceKey.for_fwmark(8, family=6)

TABLE = Table([
    Service(WEB, "wlc", persistent=300, netmask="255.255.255.0", destinations=[
        Destination(RS1.ipv4, 8080, "masq", 1), Destination(RS2.ipv4, 80, "masq", 0)]),
    Service(DNS, "sh", ops=True, sched_flags=("sh-port",), destinations=[
        Destination(RS1.ipv4, 53, "route", 3), Destination(RS2.ipv4, 53, "tunnel", 2)]),
    Service(WEB6, "rr", persistent=600, netmask="64", destinations=[
        Destination(RS1.ipv6, 443, "route", 5), Destination(RS2.ipv6, 443, "masq", 1)]),
    Service(MARK, "lc", destinations=[Destination(RS1.ipv4, 0, "tunnel", 1)]),
    Service(MARK6, "wrr", persistent=120, destinations=[Destination(RS2.ipv6, 0, "route", 0)]),
])


@pytest.fixture
def executor(clean_lab_vm: LabVM):
    executor = SSHExecutor(clean_lab_vm.ssh_host, clean_lab_vm.ssh_port, clean_lab_vm.ssh_user,
                           str(clean_lab_vm.key_path), clean_lab_vm.host_key, timeout=60)
    yield executor
    executor.close()


def test_the_real_ipvsadm_saves_exactly_what_render_writes(executor):
    executor.restore(plan(Table(), TABLE))
    saved = executor.save()
    assert saved == render(TABLE)
    assert parse_save(saved) == TABLE


def test_a_planned_change_reaches_the_desired_table_on_a_real_kernel(executor):
    executor.restore(plan(Table(), TABLE))
    moved = Service(ServiceKey("tcp", V4[2], 80), "wlc", destinations=[Destination(RS1.ipv4, 80, "masq", 1)])
    web = TABLE[WEB]
    desired = Table([
        dataclasses.replace(web, scheduler="rr", persistent=None, netmask=None).with_destinations(
            [dataclasses.replace(d, weight=7, forwarding="masq") for d in web.destinations.values()]),
        TABLE[WEB6].with_destinations([]),
        TABLE[MARK],
        moved,
    ])
    live = parse_save(executor.save())
    commands = plan(live, desired)
    assert {c.op for c in commands} == {"-D", "-d", "-E", "-e", "-A", "-a"}
    executor.restore(commands)
    assert parse_save(executor.save()) == desired
    assert plan(parse_save(executor.save()), desired) == []


def test_the_listings_of_a_real_kernel_parse(executor):
    executor.restore(plan(Table(), TABLE))
    listing = parse_list(executor.list_text("list"))
    assert listing.table == TABLE
    assert listing.connections[DestRef(WEB, RS1.ipv4, 8080)].active == 0
    stats = parse_stats(executor.list_text("stats"))
    rates = parse_rate(executor.list_text("rate"))
    assert set(stats.services) == set(rates.services) == set(TABLE)
    assert len(stats.destinations) == len(rates.destinations) == TABLE.destination_count


def test_real_ipvsadm_errors_become_the_engine_exceptions(executor):
    executor.restore(plan(Table(), TABLE))
    with pytest.raises(CommandFailed, match="Service already exists") as caught:
        executor.run(["ipvsadm", "-A", *WEB.options, "-s", "wlc", "-p", "300"])
    assert caught.value.returncode != 0
    # ipvsadm -R goes on past a refused line; the executor still reports it.
    with pytest.raises(CommandFailed, match="Destination already exists"):
        executor.restore([f"-a -t {V4[0]}:80 -r {RS2.ipv4}:80 -m -w 0",
                          f"-A -t {V4[3]}:80 -s rr"])
    assert ServiceKey("tcp", V4[3], 80) in parse_save(executor.save())


def test_set_timeouts_with_zero_leaves_that_value(executor):
    def timeouts():
        words = executor.run(["ipvsadm", "-L", "--timeout"]).stdout.split()
        return tuple(int(w) for w in words[-3:])

    executor.restore([set_timeouts(901, 121, 301)])
    assert timeouts() == (901, 121, 301)
    executor.run(set_timeouts(902, 0, 0).argv)
    assert timeouts() == (902, 121, 301)


def test_the_director_with_another_key_is_refused(clean_lab_vm: LabVM, tmp_path):
    other = key_line(new_ed25519_key(tmp_path / "other"))
    executor = SSHExecutor(clean_lab_vm.ssh_host, clean_lab_vm.ssh_port, "root",
                           str(clean_lab_vm.key_path), other, timeout=60)
    with pytest.raises(HostKeyMismatch):
        executor.save()


def test_the_real_ipvsadm_order_with_wrapping_addresses_is_reproduced(executor):
    # libipvs compares addresses by 32-bit subtraction, so 10.x sorts after 203.x.
    servers = [Destination(a, 80, "masq") for a in
               ("10.20.1.11", "172.16.0.1", "192.0.2.77", "203.0.113.50")]
    table = Table([Service(ServiceKey("tcp", V4[4], 80), destinations=servers),
                   Service(ServiceKey("tcp", "198.51.100.9", 80), destinations=servers)])
    executor.restore(plan(Table(), table))
    saved = executor.save()
    assert saved == render(table)
    assert saved.splitlines()[0] == "-A -t 198.51.100.9:80 -s wlc"
