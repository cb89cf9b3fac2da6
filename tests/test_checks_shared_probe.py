"""One probe, many services: identical checks of one real server run once per interval
and feed every service that asked for them; checks that differ in anything stay apart.
Proved with real loopback servers that count what reaches them."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from monitoring.checks import CheckResult, CheckSpec, Scheduler, Target
from monitoring.check_targets import TargetLoader
from tests import factories
from tests.health_servers import http_server, listener
from tests.processes import wait_for

ROUNDS = 3


def run_rounds(targets: list[Target], rounds: int = ROUNDS) -> tuple[Scheduler, dict[object, list[CheckResult]]]:
    """Run the Scheduler (no spread: every probe starts at once) until every target has
    `rounds` results, then stop; returns it and the results per target."""
    seen: dict[object, list[CheckResult]] = defaultdict(list)

    async def scenario() -> Scheduler:
        done = asyncio.Event()

        def collect(target_id: object, result: CheckResult) -> None:
            seen[target_id].append(result)
            if all(len(seen[t.id]) >= rounds for t in targets):
                scheduler.stop()
                done.set()

        scheduler = Scheduler(collect, spread=False)
        scheduler.set_targets(targets)
        task = asyncio.create_task(scheduler.run())
        await asyncio.wait_for(done.wait(), 10)
        await task
        return scheduler

    return asyncio.run(scenario()), seen


def settled(hits: list, at_least: int) -> int:
    """The server's count once its accept thread has caught up with the probes run."""
    wait_for(lambda: len(hits) >= at_least, 5, what=f"{at_least} connections")
    return len(hits)


def test_five_services_with_the_same_tcp_check_of_one_server_connect_once_per_interval() -> None:
    hits: list = []
    with listener(hits) as port:
        spec = CheckSpec("tcp", host="127.0.0.1", port=port, timeout=2)
        services = [Target(f"vs{n}-CAS1", spec, 0.2) for n in range(5)]
        scheduler, seen = run_rounds(services)
        connections = settled(hits, scheduler.stats.started)
    assert scheduler.stats.probes == 1 and scheduler.stats.targets == 5
    assert connections == scheduler.stats.started == ROUNDS  # not 5 x ROUNDS
    for service in services:
        assert [r.reason for r in seen[service.id]] == ["connected"] * ROUNDS
    # Every service got the very same results, one per probe.
    assert all(seen[s.id] == seen[services[0].id] for s in services)


def test_five_services_with_the_same_owa_check_send_one_request_per_interval() -> None:
    hits: list = []
    with http_server(hits=hits) as port:
        owa = CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa/healthcheck.htm",
                        http_body="Outlook", timeout=2)
        services = [Target(f"vs{n}-CAS1", owa, 0.2) for n in range(5)]
        scheduler, seen = run_rounds(services)
        requests = settled(hits, scheduler.stats.started)
    assert requests == scheduler.stats.started == ROUNDS
    assert set(hits) == {"GET /owa/healthcheck.htm HTTP/1.0"}
    for service in services:
        assert [r.reason for r in seen[service.id]] == ["HTTP 200, body matched"] * ROUNDS


@pytest.mark.parametrize("differs", ["timeout", "http_path", "http_host", "http_body", "interval"])
def test_checks_that_differ_in_any_parameter_are_not_shared(differs: str) -> None:
    hits: list = []
    with http_server(hits=hits) as port:
        base = CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa", timeout=2)
        other = {
            "timeout": CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa", timeout=3),
            "http_path": CheckSpec("http", host="127.0.0.1", port=port, http_path="/ecp", timeout=2),
            "http_host": CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa", http_host="mail", timeout=2),
            "http_body": CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa", http_body="OWA", timeout=2),
            "interval": base,
        }[differs]
        targets = [Target("a", base, 0.2), Target("b", other, 0.25 if differs == "interval" else 0.2)]
        scheduler, _ = run_rounds(targets, rounds=2)
        requests = settled(hits, scheduler.stats.started)
    assert scheduler.stats.probes == 2
    assert requests == scheduler.stats.started >= 4  # each target's own requests


def test_a_service_that_changes_its_check_leaves_the_shared_probe_and_is_checked_at_once() -> None:
    hits: list = []
    seen: list[tuple[str, str]] = []
    with listener(hits) as port:
        shared = CheckSpec("tcp", host="127.0.0.1", port=port, timeout=2)

        async def scenario() -> Scheduler:
            scheduler = Scheduler(lambda target_id, result: seen.append((target_id, result.reason)), spread=False)
            scheduler.set_targets([Target("a", shared, 30), Target("b", shared, 30)])
            task = asyncio.create_task(scheduler.run())
            while len(seen) < 2:
                await asyncio.sleep(0.01)
            assert scheduler.stats.probes == 1
            # "b" now checks a closed port: its own probe, run now, not in 30 s.
            scheduler.set_targets([Target("a", shared, 30), Target("b", CheckSpec("tcp", host="127.0.0.1", port=1,
                                                                                 timeout=2), 30)])
            while len(seen) < 3:
                await asyncio.sleep(0.01)
            scheduler.stop()
            await task
            return scheduler

        scheduler = asyncio.run(scenario())
    assert scheduler.stats.probes == 2
    assert sorted(seen[:2]) == [("a", "connected"), ("b", "connected")]
    assert seen[2] == ("b", "connection refused")


@pytest.mark.django_db
def test_the_articles_five_services_checking_cas1_share_one_probe_each_with_its_own_rise_and_fall() -> None:
    """Five virtual servers, one OWA check each, CAS1 checked on 443 by all of them: the
    worker's targets ask for one probe; rise and fall stay per service (counted per
    real server in monitoring.health_counter), so differing ones do not split it."""
    hits: list = []
    with http_server(hits=hits) as port:
        for n, vs_port in enumerate((80, 443, 25, 110, 143)):
            vs = factories.virtual_server(name=f"Exchange-{vs_port}", port=vs_port, active=True)
            vs.health_check.__class__.objects.filter(pk=vs.health_check.pk).update(
                check_type="http", http_path="/owa/healthcheck.htm", http_body="Outlook", interval=1, timeout=2,
                fall=1 + n, rise=1 + n % 2)
            factories.real_server(vs, name="CAS1", address="192.0.2.21", check_address="127.0.0.1", check_port=port)
        targets, _ = TargetLoader().load()
        assert len({(t.spec, t.interval) for t in targets.values()}) == 1
        assert len({(t.rise, t.fall) for t in targets.values()}) == 5
        scheduler, seen = run_rounds([Target(rs_id, t.spec, 0.2) for rs_id, t in targets.items()], rounds=2)
        requests = settled(hits, scheduler.stats.started)
    assert scheduler.stats.probes == 1
    assert requests == scheduler.stats.started == 2
    assert all(len(results) == 2 and all(r.ok for r in results) for results in seen.values())
