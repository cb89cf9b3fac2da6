"""Health checks against the lab's real servers, with the product's own processes: Celery
beat sends the health tick every second, a real worker runs the checker and the
reconciles, and the lab director's IPVS kernel follows the real servers' health.

The checker runs on the host, and the lab's real servers live in network namespaces
inside the guest. Each real server is reached through its health-check forwarder
(LabVM.check_endpoint: a loopback port forwarded by QEMU to a relay in the guest), set
as the real server's check_address/check_port (keepalived's connect_ip/connect_port).
The relay accepts every connection before it knows whether the real server answers, so
a TCP connect check through it would always say UP: the check here is HTTP (GET /
expecting 200, as the seed article's OWA check is HTTP too), which only a live real
server passes. A stopped real server's relay closes the connection unanswered.
"""
import time

import pytest

from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import AuditEntry
from monitoring.health_counter import LAST_RESULT_KEY, STATE_KEY
from monitoring.transitions import ACTOR
from virtualservers.health_facts import LAST_KEY
from monitoring.models import HealthEvent
from lab import topology
from lbadmin.redis_client import get_redis
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from tests.databases import database_url
from tests.processes import celery_process, wait_for
from virtualservers.models import ApplyRun, HealthCheck, RealServer, VirtualServer

pytestmark = pytest.mark.lab

VIP = topology.VIP_POOL_V4[3]
RS1, RS2 = topology.REAL_SERVERS["rs1"], topology.REAL_SERVERS["rs2"]
INTERVAL, TIMEOUT, FALL, RISE = 1, 1, 2, 2
# Issue 4, item 7: out of the kernel table within fall x interval + 1 s.
REMOVAL_BOUND = FALL * INTERVAL + 1.0


def kernel_holds(vm, address: str) -> bool:
    return f"-r {address}:" in vm.ipvsadm_save()


def proc_ip_vs_address(address: str, port: int) -> str:
    """How /proc/net/ip_vs spells a real server: '-> 0A0A000B:0050'."""
    return "".join(f"{int(part):02X}" for part in address.split(".")) + f":{port:04X}"


def wait_in_guest(vm, address: str, present: bool, timeout: float) -> float:
    """Block until the kernel table holds (present) or lacks address:80; the host's
    monotonic time when the guest saw it.

    The guest watches its own /proc/net/ip_vs (the kernel's table, as `ipvsadm -S -n`
    reads it) with shell builtins only, every 20 ms: polling over SSH with ipvsadm would
    cost the guest's single TCG vCPU 0.2 s a poll and slow the very reconcile it times.
    """
    needle = proc_ip_vs_address(address, topology.HTTP_PORT)
    want = "1" if present else "0"
    script = (f"end=$(( $(cut -d. -f1 /proc/uptime) + {int(timeout)} )); "
              "while :; do found=0; "
              f"while read -r line; do case $line in *{needle}*) found=1;; esac; done < /proc/net/ip_vs; "
              f"[ $found = {want} ] && exit 0; "
              "[ $(cut -d. -f1 /proc/uptime) -ge $end ] && exit 1; usleep 20000; done")
    rc, _, err = vm.run(["sh", "-c", script], timeout=timeout + 30)
    seen = time.monotonic()
    assert rc == 0, f"{address} {'never came into' if present else 'never left'} the kernel table: {err}"
    return seen


def print_where_the_time_went(began_monotonic: float, rs_name: str, new_state: str) -> None:
    """The transition and the reconciles after it, on the wall clock relative to `began`."""
    began = time.time() - (time.monotonic() - began_monotonic)
    event = HealthEvent.objects.filter(real_server__name=rs_name, new_state=new_state).latest("at")
    print(f"  transition {event.old_state}->{new_state} at +{event.at.timestamp() - began:.2f} s ({event.reason})")
    for run in ApplyRun.objects.filter(started_at__gte=event.at).order_by("started_at"):
        print(f"  reconcile trigger={run.trigger!r} started +{run.started_at.timestamp() - began:.2f} s, "
              f"took {run.duration_ms or 0:.0f} ms, result={run.result}, plan={run.plan!r}")


def add_checked_virtual_server(vm) -> VirtualServer:
    vs = VirtualServer.objects.create(name="web", address=VIP, port=80, protocol="tcp", scheduler="rr",
                                      forwarding="nat", active=True)
    HealthCheck.objects.create(virtual_server=vs, check_type="http", http_method="GET", http_path="/",
                               http_status="200", interval=INTERVAL, timeout=TIMEOUT, fall=FALL, rise=RISE)
    for rs in (RS1, RS2):
        check_host, check_port = vm.check_endpoint(rs.name)
        RealServer.objects.create(virtual_server=vs, name=rs.name, address=rs.ipv4, weight=1,
                                  admin_state="enabled", check_address=check_host, check_port=check_port)
    return vs


def forget_earlier_health_state() -> None:
    """Counters and last results of an earlier test's real servers (ids are reused)."""
    get_redis().delete(STATE_KEY, LAST_KEY, LAST_RESULT_KEY)


@pytest.mark.django_db(transaction=True)
def test_a_stopped_real_server_leaves_the_kernel_within_fall_intervals_and_returns_after_rise(
        clean_lab_vm, redis_url, tmp_path):
    vm = clean_lab_vm
    forget_earlier_health_state()
    director = register_lab_director(vm)
    vs = add_checked_virtual_server(vm)
    env = {"DATABASE_URL": database_url()}
    # prefork, as the Procfile runs it: with one solo process a reconcile queued by a
    # transition waits behind beat's poll_live (three SSH commands, 0.6-2.4 s on TCG).
    with celery_process("worker", redis_url, tmp_path, prefork=True, **env), \
            celery_process("beat", redis_url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **env):
        # Converged: both real servers seen up by the checker and present in the kernel.
        wait_for(lambda: set(vs.real_servers.values_list("health", flat=True)) == {"up"}, 60, interval=0.5,
                 what="both real servers to be seen up through their forwarders")
        wait_for(lambda: kernel_holds(vm, RS1.ipv4) and kernel_holds(vm, RS2.ipv4), 60, interval=0.5,
                 what="the worker to converge the director")
        assert set(vm.http_from_client(VIP, 80, n=4)) == {"rs1", "rs2"}

        stopping = time.monotonic()
        vm.rs_stop("rs1")
        stopped = time.monotonic()
        gone = wait_in_guest(vm, RS1.ipv4, present=False, timeout=30)
        # Measured from the start of rs_stop, so it includes the SSH round trip before the
        # kill and the one that reports the removal: an upper bound on the real time.
        removal = gone - stopping
        print(f"\nrs1 removal: {removal:.2f} s after rs_stop began ({gone - stopped:.2f} s after it returned; "
              f"rs_stop took {stopped - stopping:.2f} s); bound {REMOVAL_BOUND:.1f} s")
        print_where_the_time_went(stopping, "rs1", "down")
        assert not kernel_holds(vm, RS1.ipv4) and kernel_holds(vm, RS2.ipv4)
        assert set(vm.http_from_client(VIP, 80, n=4)) == {"rs2"}
        began = time.time() - (time.monotonic() - stopping)
        down = HealthEvent.objects.filter(real_server__name="rs1", new_state="down").latest("at")
        removing = wait_for(lambda: ApplyRun.objects.filter(
            director=director, started_at__gte=down.at, result="ok",
            plan__contains=f"-d -t {VIP}:80 -r {RS1.ipv4}:80").first(), 30, what="the removing apply's record")
        detected = down.at.timestamp() - began
        applied_in = removing.duration_ms / 1000
        print(f"  detected (transition written) +{detected:.2f} s; removing apply took {applied_in:.2f} s")
        # The checker's part, strictly: fall failures at interval apart, plus 1 s.
        assert detected <= REMOVAL_BOUND, f"transition {detected:.2f} s after the stop; wanted <= {REMOVAL_BOUND} s"
        # The whole path, with one allowance: the apply's own duration, measured in this
        # run (ApplyRun.duration_ms: read, restore, read back). Under TCG each ipvsadm over
        # SSH costs 0.2 s on an idle host and several times that on a loaded one; a real
        # director applies the same batch in tens of milliseconds (bench/README.md, apply).
        # The queueing of the reconcile after the transition gets no allowance.
        assert removal <= REMOVAL_BOUND + applied_in, (
            f"rs1 left the kernel {removal:.2f} s after it was stopped; wanted within fall x interval + 1 s "
            f"= {REMOVAL_BOUND:.1f} s plus the apply's {applied_in:.2f} s under TCG")

        starting = time.monotonic()
        vm.rs_start("rs1")
        back = wait_in_guest(vm, RS1.ipv4, present=True, timeout=30)
        print(f"rs1 back: {back - starting:.2f} s after rs_start began (rise {RISE} x interval {INTERVAL} s)")
        print_where_the_time_went(starting, "rs1", "up")
        assert kernel_holds(vm, RS1.ipv4)
        assert set(vm.http_from_client(VIP, 80, n=4)) == {"rs1", "rs2"}

    rs1 = vs.real_servers.get(name="rs1")
    assert rs1.health == "up"
    events = list(HealthEvent.objects.filter(real_server=rs1).order_by("at").values_list(
        "old_state", "new_state", "reason"))
    assert [(old, new) for old, new, _ in events] == [("unknown", "up"), ("up", "down"), ("down", "up")], events
    # Down after `fall` failures: the relay closes the connection when rs1 refuses it.
    assert events[1][2].startswith(f"{FALL} failures in a row: connection closed"), events[1]
    # Up again after `rise` successes of the HTTP check itself.
    assert events[2][2] == f"{RISE} successes in a row: HTTP 200", events[2]
    audit = list(AuditEntry.objects.filter(action="health", object_repr="web/rs1").order_by("pk").values_list(
        "username", "message"))
    assert [message for _, message in audit] == [reason for _, _, reason in events]
    assert {username for username, _ in audit} == {ACTOR}
    assert vs.real_servers.get(name="rs2").health == "up"
    assert not HealthEvent.objects.filter(real_server__name="rs2", new_state="down").exists()
