"""A change builds the desired table of the virtual servers it touched only
(desired.desired_table_touched), told by its outbox rows and the queue's touched set; the
result must be the table the whole build gives, after every kind of change, and anything
that did not say what it touched must build the whole table. The kernel is ipvs.simulate
behind an executor (tests/test_reconcile_targeted.py); the lab proves the targeted run
against a real one (tests/test_lab_targeted.py)."""
import pytest
from django.urls import get_resolver

from lbadmin.models import ClusterSettings
from lbadmin.redis_client import get_redis
from lbadmin.signals import announce_applied_settings
from monitoring.transitions import write_transition
from tests import factories
from tests.api_client import token_client
from tests.test_reconcile_targeted import SimulatedDirector
from virtualservers import actions, ipvs, outbox
from virtualservers.desired import desired_table, desired_table_touched
from virtualservers.models import ApplyRun, ReconcileRequest, RealServer, VirtualServer
from virtualservers.reconcile import forget_executor, reconcile_director, take_pending
from virtualservers.tasks import queue_reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def lb(monkeypatch, redis_url):
    get_redis().flushdb()
    d, other = factories.director(name="lb1"), factories.director(name="lb2")
    fake = SimulatedDirector()
    # The API's first request would import every view, and with them the modules that bind
    # executor_for at import (monitoring.live_poller): load them before it is replaced, or
    # they keep the fake for the rest of the run.
    get_resolver().url_patterns
    monkeypatch.setattr("virtualservers.reconcile.executor_for", lambda director: fake)
    monkeypatch.setattr("virtualservers.reconcile.ensure_sysctls", lambda *args: "")
    full_builds = []

    def counted(*args, **kwargs):
        full_builds.append(args)
        return desired_table(*args, **kwargs)

    monkeypatch.setattr("virtualservers.reconcile.desired_table", counted)
    yield d, other, fake, full_builds
    forget_executor(d.pk)
    get_redis().flushdb()


def services() -> list[VirtualServer]:
    made = []
    for i in range(4):
        vs = factories.virtual_server(f"svc{i}", f"192.0.2.{i + 1}", 80, active=True, persistent=0, pmask="",
                                      quiesce_server=(i == 1), sorry_server="198.51.100.99" if i == 2 else None)
        for j in range(3):
            factories.real_server(vs, f"rs{j}", f"198.51.100.{10 * i + j + 1}", admin_state="enabled")
        made.append(vs)
    return made


def requested_touched(director) -> list[int] | None:
    """What the change's outbox rows say for this director (then sent, as a drain would)."""
    rows = list(ReconcileRequest.objects.filter(director=director))
    assert rows, "the change asked for no reconcile"
    ReconcileRequest.objects.all().delete()
    return outbox.coalesced_touched(rows)


def rs_of(vs_name: str, rs_name: str = "rs0") -> RealServer:
    return RealServer.objects.get(virtual_server__name=vs_name, name=rs_name)


def vs_named(name: str) -> VirtualServer:
    return VirtualServer.objects.get(name=name)


def test_every_kind_of_change_builds_the_table_the_whole_build_gives(lb, admin_user):
    d, other, fake, full_builds = lb
    services()
    assert reconcile_director(d.pk, trigger="test").run.result == ApplyRun.Result.OK
    api = token_client(admin_user, "deploy")[0]
    new_vs = {"name": "new", "address": "192.0.2.9", "port": 443, "protocol": "tcp", "scheduler": "wlc"}

    changes = [
        ("deactivate a real server",
         lambda: actions.set_real_server_state(rs_of("svc0").pk, "deactivate", confirmed=True)),
        ("activate it again", lambda: actions.set_real_server_state(rs_of("svc0").pk, "activate", confirmed=True)),
        ("edit a weight (API)", lambda: api.patch(f"/real-servers/{rs_of('svc3').pk}", {"weight": 7})),
        ("health down, quiescing", lambda: write_transition(rs_of("svc1").pk, "down", "refused", None)),
        ("every real server down: the sorry server", lambda: [
            write_transition(rs_of("svc2", f"rs{j}").pk, "down", "refused", None) for j in range(3)]),
        ("a real server up again", lambda: write_transition(rs_of("svc2").pk, "up", "ok", None)),
        ("delete a real server", lambda: actions.delete_real_server(rs_of("svc3", "rs2"), confirmed=True)),
        ("new address (API)", lambda: api.patch(f"/virtual-servers/{vs_named('svc0').pk}", {"address": "192.0.2.100"})),
        ("new port (API)", lambda: api.patch(f"/virtual-servers/{vs_named('svc1').pk}", {"port": 8080})),
        ("deactivate a virtual server", lambda: actions.set_virtual_active(vs_named("svc3").pk, False)),
        ("activate the virtual server again", lambda: actions.set_virtual_active(vs_named("svc3").pk, True)),
        ("served by another director only (API)",
         lambda: api.patch(f"/virtual-servers/{vs_named('svc1').pk}", {"directors": [other.pk]})),
        ("add a virtual server (API: inactive)", lambda: api.post("/virtual-servers", new_vs)),
        ("add a real server to it (API)",
         lambda: api.post(f"/virtual-servers/{vs_named('new').pk}/real-servers",
                          {"name": "rs0", "address": "198.51.100.91", "active": True})),
        ("activate it", lambda: actions.set_virtual_active(vs_named("new").pk, True)),
        ("delete a virtual server", lambda: actions.delete_virtual_server(vs_named("svc2"))),
        ("a drain", lambda: actions.set_real_server_state(rs_of("svc3").pk, "drain", confirmed=True)),
    ]
    for name, change in changes:
        full_builds.clear()
        fake.reads.clear()
        response = change()
        assert getattr(response, "status_code", 200) < 300, (name, response.content)
        touched = requested_touched(d)
        assert touched is not None and len(touched) == 1, name
        d.refresh_from_db()
        baseline = ipvs.parse_save(d.applied_table)
        assert desired_table_touched(d, baseline, touched) == desired_table(d), name
        if name == "a drain":
            continue  # a drain waits for connections: the whole build, with the live table (test_lab_drains)
        outcome = reconcile_director(d.pk, trigger="change", touched=touched)
        assert outcome.run.result in (ApplyRun.Result.OK, ApplyRun.Result.NOOP), (name, outcome.run.error)
        assert fake.table == desired_table(d), name
        assert full_builds == [], f"{name}: built the whole table"
        assert "all" not in fake.reads, name


def test_a_request_that_does_not_say_what_it_touched_builds_the_whole_table(lb):
    d, other, fake, full_builds = lb
    services()
    reconcile_director(d.pk, trigger="test")
    actions.set_real_server_state(rs_of("svc0").pk, "deactivate", confirmed=True)
    announce_applied_settings(ClusterSettings.load())  # the global settings saved: may change anything
    assert requested_touched(d) is None
    full_builds.clear()
    assert reconcile_director(d.pk, trigger="change", touched=None).run.result == ApplyRun.Result.OK
    assert len(full_builds) == 1
    assert fake.table == desired_table(d)


def test_a_virtual_server_the_baseline_does_not_know_makes_it_build_the_whole_table(lb):
    d, other, fake, full_builds = lb
    first, second, *_ = services()
    reconcile_director(d.pk, trigger="test")
    VirtualServer.objects.filter(pk=second.pk).update(active=False)  # no request: the sweep's to find
    reconcile_director(d.pk, trigger="sweep")
    VirtualServer.objects.filter(pk=second.pk).update(active=True)  # again without a request
    RealServer.objects.filter(virtual_server=first, name="rs0").update(weight=4)
    d.refresh_from_db()
    assert desired_table_touched(d, ipvs.parse_save(d.applied_table), [first.pk]) is None
    full_builds.clear()
    assert reconcile_director(d.pk, trigger="change", touched=[first.pk]).run.result == ApplyRun.Result.OK
    assert len(full_builds) == 1
    assert fake.table == desired_table(d)


def test_requests_coalesced_into_one_pending_run_reach_it_with_the_union_of_what_they_touched(lb):
    d, *_ = lb
    redis = get_redis()
    assert queue_reconcile(d.pk, "change", touched=[3]) is True
    assert queue_reconcile(d.pk, "change", touched=[5, 3]) is False  # joined the pending run
    assert take_pending(redis, d.pk) == {3, 5}
    assert queue_reconcile(d.pk, "change", touched=[3]) is True  # the pending mark went with it
    assert queue_reconcile(d.pk, "sweep") is False
    assert take_pending(redis, d.pk) is None  # one of them may have changed anything
    assert take_pending(redis, d.pk) is None  # nothing noted (a run queued otherwise): everything


def test_the_outbox_coalesces_touched_ids_and_one_null_row_means_everything(lb):
    d, *_ = lb
    outbox.record([d.pk], "a", touched=[2])
    outbox.record([d.pk], "b", touched=[1, 2])
    rows = outbox.claim().by_director()[d.pk]
    assert outbox.coalesced_touched(rows) == [1, 2]
    outbox.record([d.pk], "c")
    rows = list(ReconcileRequest.objects.filter(director=d))
    assert outbox.coalesced_touched(rows) is None
