"""A change costs what the change is (issue 15), against the lab's real IPVS kernel: a
toggle reads and verifies only the service it touches, in one SSH round trip each; drift
elsewhere is still found by the live poll, which reads everything in one round trip; a
touched service that differs from the last verified table makes the run read it all."""
import paramiko
import pytest

from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import Director
from lab import topology
from tests import factories
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from virtualservers.models import ApplyRun
from virtualservers.reconcile import executor_for, reconcile_director

pytestmark = pytest.mark.lab

RS1, RS2 = topology.REAL_SERVERS["rs1"], topology.REAL_SERVERS["rs2"]
VIP_A, VIP_B = topology.VIP_POOL_V4[0], topology.VIP_POOL_V4[1]


class Calls:
    """What the director's real executor was asked to run, in order."""

    def __init__(self, monkeypatch, executor):
        self.seen: list[tuple] = []
        run, run_script = executor.run, executor.run_script

        def spy_run(argv, stdin=None):
            self.seen.append(tuple(argv))
            return run(argv, stdin)

        def spy_script(script, args=(), stdin=None):
            self.seen.append((script.name, *args[1:]))  # args[0] is the ipvsadm program
            return run_script(script, args, stdin)

        monkeypatch.setattr(executor, "run", spy_run)
        monkeypatch.setattr(executor, "run_script", spy_script)

    @property
    def full_reads(self) -> int:
        return self.seen.count(("ipvsadm", "-S", "-n"))


@pytest.fixture
def two_services(db, redis_url, clean_lab_vm):
    """Two NAT services of two real servers each, converged: the director in sync."""
    director = register_lab_director(clean_lab_vm)
    services = []
    for name, vip in (("a", VIP_A), ("b", VIP_B)):
        vs = factories.virtual_server(name, vip, 80, active=True, forwarding="nat", persistent=0, pmask="")
        for rs in (RS1, RS2):
            factories.real_server(vs, rs.name, rs.ipv4, port=80, admin_state="enabled")
        services.append(vs)
    assert reconcile_director(director.pk, trigger="test").run.result == ApplyRun.Result.OK
    director.refresh_from_db()
    assert director.status == Director.Status.OK
    return director, services


def toggle(vs, name: str) -> None:
    rs = vs.real_servers.get(name=name)
    rs.admin_state = "disabled" if rs.admin_state == "enabled" else "enabled"
    rs.save()


def test_a_toggle_reads_and_verifies_only_the_service_it_touches(two_services, clean_lab_vm, monkeypatch):
    director, (a, b) = two_services
    calls = Calls(monkeypatch, executor_for(director))
    toggle(a, "rs1")
    outcome = reconcile_director(director.pk, trigger="change")
    assert outcome.run.result == ApplyRun.Result.OK, outcome.run.error
    assert outcome.run.plan == f"-d -t {VIP_A}:80 -r {RS1.ipv4}:80"
    one_service = ("ipvsadm listings", f"-L -n --exact -t {VIP_A}:80")
    assert calls.seen == [one_service, ("ipvsadm", "-R"), one_service]  # read, apply, verify
    kernel = clean_lab_vm.ipvsadm_save()
    assert f"{VIP_A}:80 -r {RS1.ipv4}:80" not in kernel and f"{VIP_B}:80 -r {RS1.ipv4}:80" in kernel


def test_a_touched_service_that_differs_from_the_baseline_makes_the_run_read_everything(
        two_services, clean_lab_vm, monkeypatch):
    director, (a, b) = two_services
    clean_lab_vm.check(["ipvsadm", "-e", "-t", f"{VIP_A}:80", "-r", f"{RS2.ipv4}:80", "-m", "-w", "7"])
    calls = Calls(monkeypatch, executor_for(director))
    toggle(a, "rs1")
    outcome = reconcile_director(director.pk, trigger="change")
    assert outcome.run.result == ApplyRun.Result.OK, outcome.run.error
    assert calls.full_reads == 2  # the plan's read and the verify
    assert sorted(outcome.run.plan.splitlines()) == sorted([
        f"-d -t {VIP_A}:80 -r {RS1.ipv4}:80", f"-e -t {VIP_A}:80 -r {RS2.ipv4}:80 -m -w 1"])
    assert f"-a -t {VIP_A}:80 -r {RS2.ipv4}:80 -m -w 1" in clean_lab_vm.ipvsadm_save()


@pytest.mark.django_db(transaction=True)
def test_drift_elsewhere_is_found_by_the_poll_in_one_round_trip(two_services, clean_lab_vm, monkeypatch):
    from monitoring import live_poller

    director, (a, b) = two_services
    clean_lab_vm.check(["ipvsadm", "-d", "-t", f"{VIP_B}:80", "-r", f"{RS2.ipv4}:80"])
    toggle(a, "rs1")
    assert reconcile_director(director.pk, trigger="change").run.result == ApplyRun.Result.OK
    assert f"{VIP_B}:80 -r {RS2.ipv4}:80" not in clean_lab_vm.ipvsadm_save()  # not this change's to see

    queued, execs = [], []
    monkeypatch.setattr(live_poller, "queue_reconcile", lambda pk, trigger: queued.append(trigger))
    exec_command = paramiko.Channel.exec_command

    def counted(channel, command):
        execs.append(command)
        return exec_command(channel, command)

    monkeypatch.setattr(paramiko.Channel, "exec_command", counted)
    director.refresh_from_db()
    snapshot = live_poller.poll_director(director)
    assert snapshot["ok"], snapshot["error"]
    assert len(execs) == 1  # list, stats and rate: one SSH exec on the director's sshd
    assert queued == ["drift"]
    assert reconcile_director(director.pk, trigger="drift").run.result == ApplyRun.Result.OK
    assert f"{VIP_B}:80 -r {RS2.ipv4}:80" in clean_lab_vm.ipvsadm_save()
