"""The worker-side checker, run here in-process with its real threads, real sockets and the
real Redis: results flow as they arrive, a hung check does not delay another server's,
only one checker holds the lease, and the alarm appears once results stop."""
import time

import pytest
from django.urls import reverse

from monitoring import checker as checker_module
from monitoring.checker_alarm import CHECKER_KEY, checker_alarm
from monitoring.health_counter import LAST_RESULT_KEY, STATE_KEY
from virtualservers.health_facts import LAST_KEY, last_results
from lbadmin.redis_client import get_redis
from tests import factories
from tests.health_servers import closed_port, listener, stalling_server
from tests.processes import wait_for
from virtualservers.models import HealthCheck, RealServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_keys():
    redis = get_redis()
    keys = (STATE_KEY, LAST_KEY, LAST_RESULT_KEY, CHECKER_KEY, checker_module.LEASE_KEY)
    redis.delete(*keys)
    yield
    redis.delete(*keys)


def service(name, address, check_type="tcp", **check):
    vs = factories.virtual_server(name=name, address=address, port=80, forwarding="nat", active=True,
                                  persistent=0, pmask="")
    HealthCheck.objects.filter(virtual_server=vs).update(check_type=check_type, **check)
    return vs


def real(vs, name, port):
    return factories.real_server(vs, name=name, address="127.0.0.1", port=port, admin_state="enabled")


def result_times(rs_id):
    """Distinct times of the results seen for one real server, polled from Redis."""
    raw = get_redis().hget(LAST_KEY, rs_id)
    return float(raw.split("|")[0]) if raw else None


@pytest.fixture
def running_checker():
    started = []

    def start(**kwargs):
        owner = f"test-{len(started)}"
        assert checker_module.acquire_lease(owner)
        checker = checker_module.Checker(owner, **kwargs)
        checker.start()
        started.append(checker)
        return checker

    yield start
    for checker in started:
        checker.stop()


def test_a_hung_check_does_not_delay_a_fast_check_of_another_server(running_checker):
    slow_vs = service("hung", "192.0.2.81", "send_expect", send=r"GET / HTTP/1.0\r\n\r\n", expect="HTTP",
                      timeout=2, interval=1, fall=1)
    fast_vs = service("fast", "192.0.2.82", "tcp", timeout=1, interval=1)
    with stalling_server() as stall_port, listener() as live_port:
        hung, fast = real(slow_vs, "hung", stall_port), real(fast_vs, "fast", live_port)
        running_checker()
        seen: set[float] = set()
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            stamp = result_times(fast.pk)
            if stamp:
                seen.add(stamp)
            time.sleep(0.05)
        # Four seconds of a 1 s interval: at least three results of the fast server, while
        # the hung one needed its whole 2 s timeout for each.
        assert len(seen) >= 3, seen
        gaps = [b - a for a, b in zip(sorted(seen), sorted(seen)[1:])]
        assert max(gaps) < 1.5, gaps
        last = last_results([hung.pk])[hung.pk]
        assert not last.ok and last.latency_ms >= 1900 and "timed out" in last.reason
        wait_for(lambda: RealServer.objects.get(pk=hung.pk).health == "down", 5, what="the hung server to go down")
        assert RealServer.objects.get(pk=fast.pk).health == "up"


def test_only_one_checker_holds_the_lease():
    assert checker_module.acquire_lease("one", 2000)
    assert not checker_module.acquire_lease("two", 2000)
    assert checker_module.acquire_lease("one", 2000)  # renewal
    checker_module.release_lease("two")  # not its lease: nothing happens
    assert checker_module.lease_holder() == "one"
    checker_module.release_lease("one")
    assert checker_module.acquire_lease("two", 2000)


def test_a_checker_that_loses_its_lease_stops(running_checker):
    vs = service("lease", "192.0.2.83", "tcp", timeout=1, interval=1)
    real(vs, "x", closed_port())
    checker = running_checker(housekeeping=0.2)
    wait_for(lambda: get_redis().hget(LAST_KEY, RealServer.objects.get().pk), 5, what="a first result")
    get_redis().set(checker_module.LEASE_KEY, "someone else")
    wait_for(lambda: not checker.alive(), 5, what="the checker to stop")


def test_the_alarm_appears_when_results_stop(running_checker, client_for, viewer):
    vs = service("alarm", "192.0.2.84", "tcp", timeout=1, interval=1)
    with listener() as port:
        real(vs, "a", port)
        checker = running_checker()
        wait_for(lambda: get_redis().get(LAST_RESULT_KEY), 5, what="a first result")
        client = client_for(viewer)
        assert 'id="health-alarm"' not in client.get(reverse("control")).content.decode()
        checker.stop()
        wait_for(lambda: checker_alarm() is not None, 6, what="the alarm")
        page = client.get(reverse("control")).content.decode()
    assert 'id="health-alarm"' in page and "produced no results for" in page


def test_the_checker_follows_configuration_changes(running_checker):
    vs = service("follow", "192.0.2.85", "tcp", timeout=1, interval=1, fall=1)
    dead_port = closed_port()
    with listener() as live_port:
        rs = real(vs, "moving", live_port)
        running_checker(housekeeping=0.3)
        wait_for(lambda: RealServer.objects.get(pk=rs.pk).health == "up", 5, what="up")
        RealServer.objects.filter(pk=rs.pk).update(port=dead_port)
        wait_for(lambda: RealServer.objects.get(pk=rs.pk).health == "down", 5, what="down after the port changed")
