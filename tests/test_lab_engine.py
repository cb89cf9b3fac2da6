"""The engine against a real IPVS kernel (the QEMU lab director): tables
converge, traffic follows (DE)ACTIVATE and drain, drift is found and
repaired, and a dead director is shown as such and converges when back."""
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import AuditEntry, Director
from lbadmin.redis_client import get_redis
from lab import topology
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from virtualservers import ipvs
from virtualservers.models import ApplyRun, VirtualServer
from virtualservers.reconcile import reconcile_director

pytestmark = pytest.mark.lab

RS1, RS2 = topology.REAL_SERVERS["rs1"], topology.REAL_SERVERS["rs2"]
VIP_EXCHANGE, VIP_WEB = topology.VIP_POOL_V4[0], topology.VIP_POOL_V4[1]


def ipvs_rules() -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command("ipvs_rules", stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def director(db, clean_lab_vm):
    return register_lab_director(clean_lab_vm)


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def add_virtual_server(client, name, vip, port, persistent, forwarding="direct", scheduler="rr") -> VirtualServer:
    response = client.post(reverse("virtual_add"), {
        "name": name, "address": vip, "vip_nmask": "255.255.255.255", "device": "eth1:1", "protocol": "tcp",
        "port": str(port), "scheduler": scheduler, "persistent": str(persistent),
        "pmask": "255.255.255.255" if persistent else "", "forwarding": forwarding, "load_monitor": "none",
        "drain_timeout": "300"})
    assert response.status_code == 302, response.content.decode()[:2000]
    vs = VirtualServer.objects.get(name=name)
    for rs in (RS1, RS2):
        # "active" as a browser posts it: the box is ticked unless the operator unticks it
        response = client.post(reverse("real_add", args=[vs.pk]),
                               {"name": rs.name, "address": rs.ipv4, "weight": "1", "active": "on"})
        assert response.status_code == 302
    client.post(reverse("virtual_toggle", args=[vs.pk]))
    return vs


def test_the_seed_articles_exchange_services_converge(director, admin_client, clean_lab_vm):
    for port, persistent in ((443, 14400), (80, 300), (135, 300), (7575, 300), (7576, 300)):
        add_virtual_server(admin_client, f"Exchange-{port}", VIP_EXCHANGE, port, persistent)
    outcome = reconcile_director(director.pk, trigger="test")
    assert outcome.run.result == ApplyRun.Result.OK, outcome.run.error
    assert len(outcome.commands) == 15  # five services, ten real servers: one batch
    kernel = clean_lab_vm.ipvsadm_save().splitlines()
    assert sorted(kernel) == sorted(ipvs_rules())
    assert len(kernel) == 15
    # Converged: a second reconcile has nothing to do.
    again = reconcile_director(director.pk, trigger="test")
    assert again.commands == [] and again.run.result == ApplyRun.Result.NOOP
    director.refresh_from_db()
    assert director.status == Director.Status.OK


def test_traffic_follows_deactivate_and_activate(director, admin_client, clean_lab_vm):
    vs = add_virtual_server(admin_client, "web", VIP_WEB, 80, 0, forwarding="nat")
    reconcile_director(director.pk, trigger="test")
    bodies = clean_lab_vm.http_from_client(VIP_WEB, 80, n=6)
    assert set(bodies) == {"rs1", "rs2"}, bodies
    rs1 = vs.real_servers.get(name="rs1")
    admin_client.post(reverse("real_toggle", args=[vs.pk, rs1.pk]))  # deactivate
    outcome = reconcile_director(director.pk, trigger="test")
    assert [c.op for c in outcome.commands] == ["-d"]  # a toggle is one command
    assert set(clean_lab_vm.http_from_client(VIP_WEB, 80, n=6)) == {"rs2"}
    admin_client.post(reverse("real_toggle", args=[vs.pk, rs1.pk]))  # activate again
    reconcile_director(director.pk, trigger="test")
    assert set(clean_lab_vm.http_from_client(VIP_WEB, 80, n=6)) == {"rs1", "rs2"}


def _held_connection(vm, vip: str, seconds: int) -> None:
    """A client connection that stays open (no request sent) for `seconds`."""
    # setsid: the connection must outlive the SSH channel that started it.
    # setsid: the connection must outlive the SSH channel that started it, and
    # its process group (pid in /tmp/held.pid) is what _close_held kills.
    vm.check(["sh", "-c", "setsid sh -c 'echo $$ > /tmp/held.pid; "
                          f"sleep {seconds} | nsenter --net=/run/netns/client -- busybox nc {vip} 80'"
                          " </dev/null >/dev/null 2>&1 &"])


def _close_held(vm) -> None:
    vm.check(["sh", "-c", "kill -TERM -$(cat /tmp/held.pid)"])


def _active_connections(vm) -> dict[str, int]:
    report = ipvs.parse_list(vm.check(["ipvsadm", "-L", "-n", "--exact"]))
    return {ref.address: c.active for ref, c in report.connections.items()}


def test_draining_lets_an_open_connection_finish_while_new_ones_go_elsewhere(director, admin_client, clean_lab_vm):
    vs = add_virtual_server(admin_client, "web", VIP_WEB, 80, 0, forwarding="nat")
    reconcile_director(director.pk, trigger="test")
    _held_connection(clean_lab_vm, VIP_WEB, 20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(_active_connections(clean_lab_vm).values()):
        time.sleep(0.3)
    busy_address = next(a for a, n in _active_connections(clean_lab_vm).items() if n)
    busy = vs.real_servers.get(address=busy_address)
    other = vs.real_servers.exclude(pk=busy.pk).get()
    admin_client.post(reverse("real_drain", args=[vs.pk, busy.pk]))
    reconcile_director(director.pk, trigger="test")
    kernel = clean_lab_vm.ipvsadm_save()
    assert f"-r {busy.address}:80 -m -w 0" in kernel  # kept, at weight 0
    assert set(clean_lab_vm.http_from_client(VIP_WEB, 80, n=4)) == {other.name}
    assert _active_connections(clean_lab_vm)[busy.address] == 1  # the open one goes on
    _close_held(clean_lab_vm)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _active_connections(clean_lab_vm).get(busy.address):
        time.sleep(0.5)
    assert _active_connections(clean_lab_vm)[busy.address] == 0
    outcome = reconcile_director(director.pk, trigger="sweep")
    assert outcome.run.plan == f"-d -t {VIP_WEB}:80 -r {busy.address}:80"
    assert busy.address not in clean_lab_vm.ipvsadm_save()


@pytest.mark.parametrize("policy", ["repair", "report"])
def test_a_hand_made_change_is_found_recorded_and_repaired_or_reported(director, admin_client, clean_lab_vm, policy):
    director.drift_policy = policy
    director.save()
    add_virtual_server(admin_client, "web", VIP_WEB, 80, 0, forwarding="nat")
    reconcile_director(director.pk, trigger="test")
    clean_lab_vm.check(["ipvsadm", "-d", "-t", f"{VIP_WEB}:80", "-r", f"{RS1.ipv4}:80"])
    outcome = reconcile_director(director.pk, trigger="sweep")
    assert outcome.run.drift is True
    entry = AuditEntry.objects.filter(action="drift").latest("id")
    assert entry.username == "reconciler" and any(RS1.ipv4 in line for line in entry.after["table"])
    kernel = clean_lab_vm.ipvsadm_save()
    director.refresh_from_db()
    if policy == "repair":
        assert RS1.ipv4 in kernel and director.status == Director.Status.OK
    else:
        assert RS1.ipv4 not in kernel and director.status == Director.Status.DEGRADED
        assert "drift" in director.status_reason


@pytest.mark.django_db(transaction=True)
def test_the_live_poll_finds_a_hand_made_change_and_queues_its_repair_at_once(director, admin_client, clean_lab_vm):
    from monitoring.live_poller import poll_director
    from monitoring.live_table import director_views
    from virtualservers.reconcile import PENDING_KEY

    add_virtual_server(admin_client, "web", VIP_WEB, 80, 0, forwarding="nat")
    reconcile_director(director.pk, trigger="test")
    get_redis().delete(PENDING_KEY.format(director.pk))
    director.refresh_from_db()
    poll_director(director)
    assert get_redis().get(PENDING_KEY.format(director.pk)) is None  # in sync: nothing queued
    assert director_views([director])[0][0].sync == "In sync"

    clean_lab_vm.check(["ipvsadm", "-d", "-t", f"{VIP_WEB}:80", "-r", f"{RS1.ipv4}:80"])
    poll_director(director)
    assert get_redis().get(PENDING_KEY.format(director.pk)) == "drift"  # queued by this poll
    assert director_views([director])[0][0].sync == "applying"
    get_redis().delete(PENDING_KEY.format(director.pk))
    assert director_views([director])[0][0].sync == "drift"
    reconcile_director(director.pk, trigger="drift")
    assert RS1.ipv4 in clean_lab_vm.ipvsadm_save()


def test_a_stopped_director_shows_unreachable_then_converges_when_back(director, admin_client, clean_lab_vm):
    from monitoring.live_poller import poll_director

    add_virtual_server(admin_client, "web", VIP_WEB, 80, 0, forwarding="nat")
    clean_lab_vm.stop()
    with pytest.raises(ipvs.IpvsError):
        reconcile_director(director.pk, trigger="test")
    director.refresh_from_db()
    assert director.status == Director.Status.UNREACHABLE
    assert "127.0.0.1" in director.status_reason or "refused" in director.status_reason.lower()
    snapshot = poll_director(director)
    assert snapshot["ok"] is False and snapshot["error"]
    run = ApplyRun.objects.filter(director=director).first()
    assert run.result == ApplyRun.Result.ERROR and run.error
    clean_lab_vm.start()  # a fresh boot: its kernel table is empty
    outcome = reconcile_director(director.pk, trigger="test")
    assert outcome.run.result == ApplyRun.Result.OK
    assert sorted(clean_lab_vm.ipvsadm_save().splitlines()) == sorted(ipvs_rules())
    director.refresh_from_db()
    assert director.status == Director.Status.OK


def test_global_timeouts_are_applied_with_set(director, clean_lab_vm):
    from lbadmin.models import ClusterSettings

    ClusterSettings.objects.update_or_create(pk=1, defaults={"tcp_timeout": 901, "tcpfin_timeout": 121, "udp_timeout": 301})
    outcome = reconcile_director(director.pk, trigger="test")
    assert [c.line for c in outcome.commands] == ["--set 901 121 301"]
    assert "901 121 301" in clean_lab_vm.check(["ipvsadm", "-L", "--timeout"])
    assert reconcile_director(director.pk, trigger="test").commands == []


def test_a_wrong_pinned_key_is_refused_and_the_admin_can_read_and_pin_the_real_one(director, admin_client, clean_lab_vm):
    from virtualservers.ipvs import fingerprint

    real_key = director.host_key
    director.host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFQVsWpOVcAyL1Q6cljsdsuJHOQ8UyONRF+ABtZbpxvD"
    director.save()
    with pytest.raises(ipvs.HostKeyMismatch):
        reconcile_director(director.pk, trigger="test")
    director.refresh_from_db()
    assert director.status == Director.Status.UNREACHABLE and "SHA256:" in director.status_reason
    page = admin_client.post(reverse("director_scan_key", args=[director.pk])).content.decode()
    assert fingerprint(real_key) in page and "DIFFERENT from the pinned key" in page
    admin_client.post(reverse("director_pin_key", args=[director.pk]), {"host_key": real_key})
    director.refresh_from_db()
    assert director.host_key == real_key
    assert AuditEntry.objects.filter(action="pin_host_key", object_repr=director.name).exists()
    assert reconcile_director(director.pk, trigger="test").run.result in (ApplyRun.Result.OK, ApplyRun.Result.NOOP)
