"""Drains that end, against the real kernel (the QEMU lab director): reconcile sets the
two IPVS sysctls; a persistence template keeps a returning client on a drained server
until expire_quiescent_template is set, and the row counts it; once the last connection
closes, the live poll ends the drain and the row says the server is out of the table."""
import time

import pytest
from django.urls import reverse

from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import ClusterSettings
from lbadmin.redis_client import get_redis
from lab import topology
from monitoring.live_poller import poll_director
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from virtualservers import drain_facts
from virtualservers.models import VirtualServer
from virtualservers.reconcile import PENDING_KEY, forget_executor, reconcile_director

pytestmark = pytest.mark.lab

RS1, RS2 = topology.REAL_SERVERS["rs1"], topology.REAL_SERVERS["rs2"]
VIP = topology.VIP_POOL_V4[2]
SYSCTLS = "/proc/sys/net/ipv4/vs/expire_quiescent_template", "/proc/sys/net/ipv4/vs/expire_nodest_conn"


@pytest.fixture
def director(db, clean_lab_vm):
    clean_lab_vm.check(["sh", "-c", f"echo 0 > {SYSCTLS[0]}; echo 0 > {SYSCTLS[1]}"])
    d = register_lab_director(clean_lab_vm)
    yield d
    forget_executor(d.pk)


def sysctls(vm) -> list[str]:
    return vm.check(["cat", *SYSCTLS]).split()


def test_reconcile_sets_both_sysctls_on_the_director(director, clean_lab_vm):
    assert sysctls(clean_lab_vm) == ["0", "0"]
    reconcile_director(director.pk, trigger="test")
    assert sysctls(clean_lab_vm) == ["1", "1"]


def _persistent_web(client) -> VirtualServer:
    response = client.post(reverse("virtual_add"), {
        "name": "web", "address": VIP, "vip_nmask": "255.255.255.255", "device": "eth1:1", "protocol": "tcp",
        "port": "80", "scheduler": "rr", "persistent": "600", "pmask": "255.255.255.255", "forwarding": "nat",
        "load_monitor": "none", "drain_timeout": "300"})
    assert response.status_code == 302, response.content.decode()[:2000]
    vs = VirtualServer.objects.get(name="web")
    for rs in (RS1, RS2):
        assert client.post(reverse("real_add", args=[vs.pk]), {"name": rs.name, "address": rs.ipv4, "weight": "1"}).status_code == 302
    for rs in vs.real_servers.all():
        client.post(reverse("real_toggle", args=[vs.pk, rs.pk]))
    client.post(reverse("virtual_toggle", args=[vs.pk]))
    return vs


def _hold_connection(vm, seconds: int) -> None:
    # setsid: the connection outlives the SSH channel; its process group is killed by _release.
    vm.check(["sh", "-c", "setsid sh -c 'echo $$ > /tmp/held-drain.pid; "
                          f"sleep {seconds} | nsenter --net=/run/netns/client -- busybox nc {VIP} 80'"
                          " </dev/null >/dev/null 2>&1 &"])


def _release(vm) -> None:
    vm.check(["sh", "-c", "kill -TERM -$(cat /tmp/held-drain.pid)"])


def _row(client, vs, rs) -> str:
    return client.get(reverse("real_row", args=[vs.pk, rs.pk]), HTTP_HX_REQUEST="true").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_drained_persistent_server_keeps_returning_clients_until_the_sysctl_and_then_ends(
        director, clean_lab_vm, client_for, admin_user):
    client = client_for(admin_user)
    ClusterSettings.objects.update_or_create(pk=1, defaults={"expire_quiescent_template": False,
                                                             "expire_nodest_conn": False})
    vs = _persistent_web(client)
    reconcile_director(director.pk, trigger="test")
    [first] = clean_lab_vm.http_from_client(VIP, 80, n=1)  # makes the client's template
    busy = vs.real_servers.get(name=first)
    _hold_connection(clean_lab_vm, 60)  # persistence sends it to the same server
    time.sleep(1.5)

    client.post(reverse("real_drain", args=[vs.pk, busy.pk]))
    reconcile_director(director.pk, trigger="test")
    assert f"-r {busy.address}:80 -m -w 0" in clean_lab_vm.ipvsadm_save()
    # Without expire_quiescent_template the template sends the client back to weight 0.
    assert set(clean_lab_vm.http_from_client(VIP, 80, n=3)) == {busy.name}
    poll_director(director)
    assert "1 connection, 1 persistence template left" in _row(client, vs, busy)

    ClusterSettings.objects.filter(pk=1).update(expire_quiescent_template=True, expire_nodest_conn=True)
    reconcile_director(director.pk, trigger="settings changed")
    assert sysctls(clean_lab_vm) == ["1", "1"]
    director.refresh_from_db()  # seen OK: a poll queues nothing but what it finds
    get_redis().delete(PENDING_KEY.format(director.pk))
    other = vs.real_servers.exclude(pk=busy.pk).get()
    assert set(clean_lab_vm.http_from_client(VIP, 80, n=3)) == {other.name}  # the template was dropped
    poll_director(director)
    assert "1 connection left" in _row(client, vs, busy)  # the emptied template is not counted
    assert get_redis().get(PENDING_KEY.format(director.pk)) is None

    _release(clean_lab_vm)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and get_redis().get(PENDING_KEY.format(director.pk)) is None:
        time.sleep(0.5)
        poll_director(director)
    assert get_redis().get(PENDING_KEY.format(director.pk)) == "drain ended"  # not the 30-s sweep
    reconcile_director(director.pk, trigger="drain ended")
    assert busy.address not in clean_lab_vm.ipvsadm_save()
    poll_director(director)
    facts = drain_facts.drain_facts([busy.pk])
    assert facts[busy.pk].in_table is False
    row = client.get(reverse("real_row", args=[vs.pk, busy.pk]), HTTP_HX_REQUEST="true")
    assert row.status_code == 286 and "removed from the kernel table: drain over" in row.content.decode()
