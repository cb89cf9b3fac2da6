"""Results in, honest state out: rise/fall transitions update the real server, write a
HealthEvent and an audit entry, queue a reconcile and change the desired table
(`manage.py ipvs_rules`). Every result here comes from a real check of a real socket."""
import asyncio
import datetime
import io

import pytest
from django.core.management import call_command

from lbadmin.models import AuditEntry
from monitoring.check_targets import target_for
from monitoring.health_counter import LAST_RESULT_KEY, STATE_KEY, record_results
from monitoring.transitions import write_transition
from virtualservers.health_facts import LAST_KEY
from monitoring.checks import run_check
from monitoring.models import HealthEvent
from lbadmin.redis_client import get_redis
from tests import factories
from tests.health_servers import closed_port, listener
from virtualservers.models import HealthCheck, RealServer
from virtualservers.reconcile import PENDING_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_health_keys():
    redis = get_redis()
    redis.delete(STATE_KEY, LAST_KEY, LAST_RESULT_KEY)
    yield
    redis.delete(STATE_KEY, LAST_KEY, LAST_RESULT_KEY)


def make_service(*, rise=2, fall=2, quiesce=False, sorry=None, initial="up", slow_start=0, **vs_fields):
    vs = factories.virtual_server(name="web", address="192.0.2.80", port=80, forwarding="nat", active=True,
                                  quiesce_server=quiesce, sorry_server=sorry, persistent=0, pmask="", **vs_fields)
    HealthCheck.objects.filter(virtual_server=vs).update(check_type="tcp", rise=rise, fall=fall, timeout=2,
                                                         interval=1, initial_state=initial, slow_start=slow_start)
    return vs


def real(vs, name, port, weight=5):
    return factories.real_server(vs, name=name, address="127.0.0.1", port=port, weight=weight, admin_state="enabled")


def check(rs):
    """Run the real server's configured check against its real socket and count it."""
    rs = RealServer.objects.select_related("virtual_server").get(pk=rs.pk)
    target = target_for(rs)
    result = asyncio.run(run_check(target.spec))
    record_results([(target, result)])
    return result


def rules() -> str:
    out = io.StringIO()
    call_command("ipvs_rules", stdout=out)
    return out.getvalue()


def test_it_takes_a_server_out_after_fall_failures_with_event_audit_and_reconcile(django_capture_on_commit_callbacks):
    director = factories.director()
    get_redis().delete(PENDING_KEY.format(director.pk))
    vs = make_service(fall=2)
    dead_port = closed_port()
    with listener() as live_port:
        alive, dead = real(vs, "alive", live_port), real(vs, "dead", dead_port)
        check(alive)
        assert f"127.0.0.1:{dead_port}" in rules()  # unknown counts as up

        assert check(dead).reason == "connection refused"
        dead.refresh_from_db()
        assert dead.health == "unknown"  # one failure of two: still in
        assert f"127.0.0.1:{dead_port}" in rules()

        with django_capture_on_commit_callbacks(execute=True):
            check(dead)
    dead.refresh_from_db()
    assert dead.health == "down" and dead.health_since is not None
    assert dead.health_reason == "2 failures in a row: connection refused"
    event = HealthEvent.objects.get(real_server=dead)
    assert (event.old_state, event.new_state) == ("unknown", "down")
    entry = AuditEntry.objects.get(action="health", object_id=str(dead.pk))
    assert entry.username == "health checker" and entry.message == dead.health_reason
    assert entry.before == {"health": "unknown"} and entry.after == {"health": "down"}
    table = rules()
    assert f"127.0.0.1:{dead_port}" not in table and f"127.0.0.1:{live_port}" in table
    assert get_redis().get(PENDING_KEY.format(director.pk)) == "health"
    get_redis().delete(PENDING_KEY.format(director.pk))


def test_it_sets_weight_zero_instead_when_the_service_quiesces():
    vs = make_service(fall=1, quiesce=True)
    port = closed_port()
    rs = real(vs, "quiet", port)
    check(rs)
    assert RealServer.objects.get(pk=rs.pk).health == "down"
    assert f"-a -t 192.0.2.80:80 -r 127.0.0.1:{port} -m -w 0" in rules()


def test_it_brings_in_the_sorry_server_when_every_server_is_down():
    vs = make_service(fall=1, sorry="127.0.0.9")
    first, second = real(vs, "a", closed_port()), real(vs, "b", closed_port())
    check(first)
    assert "127.0.0.9" not in rules()
    check(second)
    table = rules()
    assert "-r 127.0.0.9:80 -m -w 1" in table
    assert f"127.0.0.1:{first.port}" not in table and f"127.0.0.1:{second.port}" not in table


def test_it_brings_a_server_back_after_rise_successes():
    vs = make_service(fall=1, rise=3)
    with listener() as port:
        rs = real(vs, "back", port)
        RealServer.objects.filter(pk=rs.pk).update(health="down")
        get_redis().hset(STATE_KEY, rs.pk, "down 0 0")
        for _ in range(2):
            check(rs)
            assert RealServer.objects.get(pk=rs.pk).health == "down"
            assert f"127.0.0.1:{port}" not in rules()
        check(rs)
    rs.refresh_from_db()
    assert rs.health == "up" and rs.health_reason == "3 successes in a row: connected"
    assert f"-r 127.0.0.1:{port} -m -w 5" in rules()
    assert AuditEntry.objects.filter(action="health", username="health checker", after={"health": "up"}).count() == 1


def test_counts_survive_a_worker_restart_because_they_live_in_redis():
    vs = make_service(fall=3)
    rs = real(vs, "flaky", closed_port())
    check(rs)
    check(rs)
    assert get_redis().hget(STATE_KEY, rs.pk) == "up 0 2"
    # A new worker process knows nothing in memory; the third failure still counts as third.
    check(rs)
    assert RealServer.objects.get(pk=rs.pk).health == "down"


def test_an_initial_state_of_down_keeps_a_new_server_out_until_it_rises():
    vs = make_service(rise=2, initial="down")
    with listener() as port:
        rs = real(vs, "new", port)
        check(rs)
        rs.refresh_from_db()
        assert rs.health == "down" and rs.health_reason.startswith("initial state down")
        assert f"127.0.0.1:{port}" not in rules()
        check(rs)
    assert RealServer.objects.get(pk=rs.pk).health == "up"
    assert f"127.0.0.1:{port}" in rules()


def test_a_repeated_transition_writes_nothing_twice():
    vs = make_service(fall=1)
    rs = real(vs, "twice", closed_port())
    assert write_transition(rs.pk, "down", "test", 1.0)
    assert not write_transition(rs.pk, "down", "test", 1.0)
    assert HealthEvent.objects.filter(real_server=rs).count() == 1


def test_slow_start_ramps_the_weight_of_a_server_back_from_down():
    vs = make_service(fall=1, rise=1, slow_start=10)
    with listener() as port:
        rs = real(vs, "ramp", port, weight=10)
        RealServer.objects.filter(pk=rs.pk).update(health="down")
        get_redis().hset(STATE_KEY, rs.pk, "down 0 0")
        check(rs)
    rs.refresh_from_db()
    assert rs.health == "up"
    since = rs.health_since
    from virtualservers.desired import desired_table

    def weight_at(seconds):
        table = desired_table(now=since + datetime.timedelta(seconds=seconds))
        return next(d.weight for s in table.values() for d in s.destinations.values())

    assert [weight_at(s) for s in (0, 2.5, 5, 9.9, 10, 60)] == [1, 3, 5, 10, 10, 10]


def test_slow_start_does_not_ramp_a_server_seen_up_for_the_first_time():
    vs = make_service(slow_start=30)
    with listener() as port:
        rs = real(vs, "first", port, weight=10)
        check(rs)
    rs.refresh_from_db()
    assert rs.health == "up"
    assert f"-r 127.0.0.1:{port} -m -w 10" in rules()
