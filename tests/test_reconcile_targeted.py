"""When a reconcile reads only the services a change touches, and when it reads the whole
table (virtualservers/reconcile.py). The kernel here is ipvs.simulate behind an executor;
the lab proves the same against a real one (tests/test_lab_targeted.py)."""
import pytest

from lbadmin.models import Director
from tests import factories
from virtualservers import ipvs
from virtualservers.models import ApplyRun, RealServer
from virtualservers.reconcile import TARGETED_MAX_SERVICES, forget_executor, reconcile_director

pytestmark = pytest.mark.django_db


class SimulatedDirector:
    """An executor over a simulated kernel table that notes each read."""

    def __init__(self):
        self.table = ipvs.Table()
        self.reads: list[str] = []

    def save(self) -> str:
        self.reads.append("all")
        return ipvs.render(self.table)

    def read_services(self, keys) -> ipvs.Table:
        keys = list(keys)
        self.reads.append(f"{len(keys)} service(s)")
        return ipvs.Table(self.table[k] for k in keys if k in self.table)

    def restore(self, lines):
        self.table = ipvs.simulate(self.table, list(lines))

    def run(self, argv, stdin=None):
        return ipvs.RunResult(list(argv), 0, "Timeout (tcp tcpfin udp): 900 120 300\n", "", 0.0)

    def close(self):
        pass


@pytest.fixture
def director(monkeypatch, redis_url):
    d = factories.director(name="lb1")
    fake = SimulatedDirector()
    monkeypatch.setattr("virtualservers.reconcile.executor_for", lambda director: fake)
    monkeypatch.setattr("virtualservers.reconcile.ensure_sysctls", lambda *args: "")
    yield d, fake
    forget_executor(d.pk)


def services(count: int) -> list:
    made = []
    for i in range(count):
        vs = factories.virtual_server(f"svc{i}", f"192.0.2.{i + 1}", 80, active=True, persistent=0, pmask="")
        made.append(factories.real_server(vs, "rs", "198.51.100.1", admin_state="enabled"))
    return made


def converged(d, fake) -> None:
    assert reconcile_director(d.pk, trigger="test").run.result == ApplyRun.Result.OK
    fake.reads.clear()


def test_a_change_reads_only_what_it_touches_and_nothing_when_it_touches_nothing(director):
    d, fake = director
    first, *_ = services(3)
    converged(d, fake)
    assert reconcile_director(d.pk, trigger="change").run.result == ApplyRun.Result.NOOP
    assert fake.reads == []
    RealServer.objects.filter(pk=first.pk).update(admin_state="disabled")
    assert reconcile_director(d.pk, trigger="change").run.result == ApplyRun.Result.OK
    assert fake.reads == ["1 service(s)", "1 service(s)"]  # the plan's read and the verify


def test_a_bulk_change_reads_the_whole_table(director):
    d, fake = director
    made = services(TARGETED_MAX_SERVICES + 1)
    converged(d, fake)
    RealServer.objects.filter(pk__in=[rs.pk for rs in made]).update(weight=5)
    assert reconcile_director(d.pk, trigger="change").run.result == ApplyRun.Result.OK
    assert fake.reads == ["all", "all"]


@pytest.mark.parametrize("trigger", ["sweep", "drift", "director reachable again"])
def test_the_sweep_drift_and_a_director_seen_again_read_the_whole_table(director, trigger):
    d, fake = director
    services(2)
    converged(d, fake)
    reconcile_director(d.pk, trigger=trigger)
    assert fake.reads == ["all"]


def test_a_director_not_in_sync_reads_the_whole_table(director):
    d, fake = director
    first, *_ = services(2)
    converged(d, fake)
    Director.objects.filter(pk=d.pk).update(status=Director.Status.DEGRADED)
    RealServer.objects.filter(pk=first.pk).update(admin_state="disabled")
    assert reconcile_director(d.pk, trigger="change").run.result == ApplyRun.Result.OK
    assert fake.reads == ["all", "all"]


def test_a_touched_service_changed_by_hand_makes_the_run_read_and_repair_everything(director):
    d, fake = director
    first, second = services(2)
    converged(d, fake)
    fake.table = ipvs.Table(s for s in fake.table.values() if s.key.address != "192.0.2.1")  # by hand
    RealServer.objects.filter(pk=first.pk).update(weight=3)
    outcome = reconcile_director(d.pk, trigger="change")
    assert outcome.run.result == ApplyRun.Result.OK
    assert fake.reads == ["1 service(s)", "all", "all"]
    assert fake.table[ipvs.ServiceKey("tcp", "192.0.2.1", 80)].destinations.sorted()[0].weight == 3
