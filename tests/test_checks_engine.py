"""Running many checks: run_batch and the Scheduler, with real sockets."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest

from monitoring.checks import CheckResult, CheckSpec, Scheduler, Target, run_batch, run_check
from monitoring.checks.connect_prober import ConnectProber, can_probe
from tests.test_checks_support import (
    HttpReply,
    SeenRequest,
    ServerLoop,
    accept_and_wait,
    closed_port,
    http_server,
    owa_route,
    servers,  # noqa: F401  (fixture)
    servers_session,  # noqa: F401  (fixture)
    stall,
    unresponsive_port,  # noqa: F401  (fixture)
    write_script,
)


def tcp(port: int, timeout: float = 2.0) -> CheckSpec:
    return CheckSpec("tcp", host="127.0.0.1", port=port, timeout=timeout)


def distinct_tcp(port: int, i: int) -> CheckSpec:
    """Many targets that do not share one probe (identical checks would): each its own timeout."""
    return tcp(port, timeout=2.0 + i / 1000)


def stalled(port: int, timeout: float) -> CheckSpec:
    return CheckSpec("send_expect", host="127.0.0.1", port=port, expect="never", timeout=timeout)


def test_run_batch_returns_results_in_the_order_given(servers: ServerLoop) -> None:
    up, down = servers.tcp(accept_and_wait), closed_port()
    results = asyncio.run(run_batch([tcp(up), tcp(down), tcp(up)]))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].reason == "connection refused"


def test_a_hung_check_does_not_delay_a_batch_of_fast_ones(servers: ServerLoop, tmp_path: Path) -> None:
    fast_port, hung_port = servers.tcp(accept_and_wait), servers.tcp(stall)
    hang = write_script(tmp_path, "hang", "import time\ntime.sleep(60)\n")
    specs = [stalled(hung_port, timeout=1.5), CheckSpec("program", send_program=str(hang), timeout=1.5,
                                                           program_dir=None, program_user=None)]
    specs += [tcp(fast_port) for _ in range(300)]
    started = time.monotonic()
    # Four slots: the two hung checks hold two of them; the fast ones share the rest.
    results = asyncio.run(run_batch(specs, concurrency=4))
    elapsed = time.monotonic() - started
    assert [r.reason for r in results[:2]] == [
        "timed out after 1.5 s waiting for reply",
        "timed out after 1.5 s (program killed)",
    ]
    assert all(r.ok and r.latency_ms < 250 for r in results[2:])
    assert elapsed < 2.3  # the batch costs its slowest check, not the sum of them


def test_run_batch_bounds_concurrency(servers: ServerLoop) -> None:
    hung_port = servers.tcp(stall)
    started = time.monotonic()
    results = asyncio.run(run_batch([stalled(hung_port, 0.3) for _ in range(6)], concurrency=2))
    elapsed = time.monotonic() - started
    assert not any(r.ok for r in results)
    assert 0.85 < elapsed < 1.6  # three waves of two, not one wave of six


def test_a_batch_of_hung_checks_with_fast_ones_keeps_free_slots_for_the_fast(servers: ServerLoop) -> None:
    fast_port, hung_port = servers.tcp(accept_and_wait), servers.tcp(stall)
    specs = [stalled(hung_port, 1.0) for _ in range(3)] + [tcp(fast_port) for _ in range(200)]
    started = time.monotonic()
    results = asyncio.run(run_batch(specs, concurrency=8))
    assert all(r.ok for r in results[3:])
    assert time.monotonic() - started < 1.8


async def run_scheduler_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    scheduler.stop()
    await asyncio.wait_for(task, 2)


@pytest.mark.parametrize("fast_tcp", [True, False])
def test_the_scheduler_checks_each_target_at_its_interval(servers: ServerLoop, fast_tcp: bool) -> None:
    port = servers.tcp(accept_and_wait)
    seen: dict[str, list[float]] = defaultdict(list)

    async def scenario() -> None:
        scheduler = Scheduler(
            lambda target_id, result: seen[target_id].append(time.monotonic()), spread=False, fast_tcp=fast_tcp
        )
        scheduler.set_targets([Target("fast", tcp(port), 0.1), Target("slow", tcp(port), 0.5)])
        await run_scheduler_for(scheduler, 1.05)

    asyncio.run(scenario())
    assert 10 <= len(seen["fast"]) <= 12
    assert len(seen["slow"]) == 3  # at 0, 0.5 and 1.0 s
    gaps = [b - a for a, b in zip(seen["fast"], seen["fast"][1:])]
    assert all(0.05 < gap < 0.2 for gap in gaps), gaps


def test_a_hung_target_does_not_delay_the_others_in_the_scheduler(servers: ServerLoop) -> None:
    fast_port, hung_port = servers.tcp(accept_and_wait), servers.tcp(stall)
    results: dict[str, list[tuple[float, CheckResult]]] = defaultdict(list)

    async def scenario() -> None:
        started = time.monotonic()
        scheduler = Scheduler(
            lambda target_id, result: results[target_id].append((time.monotonic() - started, result)),
            spread=False,
        )
        scheduler.set_targets(
            [Target("hung", stalled(hung_port, 1.0), 0.2)]
            + [Target(f"fast{i}", distinct_tcp(fast_port, i), 0.2) for i in range(50)]
        )
        await run_scheduler_for(scheduler, 1.5)

    asyncio.run(scenario())
    hung = results["hung"]
    assert len(hung) == 1 and not hung[0][1].ok and hung[0][0] >= 0.95
    for i in range(50):
        times = [at for at, result in results[f"fast{i}"] if result.ok]
        assert len(times) >= 6, (i, times)  # about every 0.2 s while the hung one waited


@pytest.mark.parametrize("fast_tcp", [True, False])
def test_the_scheduler_adds_removes_and_rechecks_changed_targets(servers: ServerLoop, fast_tcp: bool) -> None:
    up, down = servers.tcp(accept_and_wait), closed_port()
    seen: list[tuple[str, bool]] = []

    async def scenario() -> None:
        scheduler = Scheduler(
            lambda target_id, result: seen.append((target_id, result.ok)), spread=False, fast_tcp=fast_tcp
        )
        scheduler.set_targets([Target("a", tcp(up), 10), Target("b", tcp(up), 10)])
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.2)
        # "a" changed (now points at a closed port), "b" gone, "c" new
        scheduler.set_targets([Target("a", tcp(down), 10), Target("c", tcp(up), 10)])
        await asyncio.sleep(0.2)
        # the same set again: nothing is re-checked
        scheduler.set_targets([Target("a", tcp(down), 10), Target("c", tcp(up), 10)])
        await asyncio.sleep(0.2)
        assert len(scheduler) == 2 and "b" not in scheduler
        scheduler.stop()
        await task

    asyncio.run(scenario())
    assert sorted(seen[:2]) == [("a", True), ("b", True)]
    assert sorted(seen[2:]) == [("a", False), ("c", True)]


def test_the_scheduler_survives_a_failing_callback_and_awaits_async_ones(servers: ServerLoop) -> None:
    port = servers.tcp(accept_and_wait)
    delivered: list[str] = []

    async def callback(target_id: str, result: CheckResult) -> None:
        if target_id == "boom":
            raise RuntimeError("database is locked")
        await asyncio.sleep(0)
        delivered.append(target_id)

    async def scenario() -> Scheduler:
        scheduler = Scheduler(callback, spread=False)
        scheduler.set_targets([Target("boom", tcp(port), 0.1), Target("fine", tcp(port), 0.1)])
        await run_scheduler_for(scheduler, 0.35)
        return scheduler

    scheduler = asyncio.run(scenario())
    assert delivered.count("fine") >= 3
    assert scheduler.stats.callback_errors >= 3


def test_stopping_the_scheduler_cancels_checks_in_flight(servers: ServerLoop) -> None:
    hung_port = servers.tcp(stall)
    seen: list[str] = []

    async def scenario() -> float:
        scheduler = Scheduler(lambda target_id, result: seen.append(target_id), spread=False)
        scheduler.add(Target("hung", stalled(hung_port, 30), 60))
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        scheduler.stop()
        await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.5
    assert seen == []


def test_the_scheduler_spreads_new_targets_over_their_first_interval(servers: ServerLoop) -> None:
    port = servers.tcp(accept_and_wait)
    first: dict[int, float] = {}

    async def scenario() -> None:
        started = time.monotonic()
        scheduler = Scheduler(lambda target_id, result: first.setdefault(target_id, time.monotonic() - started))
        scheduler.set_targets([Target(i, distinct_tcp(port, i), 1.0) for i in range(200)])
        await run_scheduler_for(scheduler, 1.1)

    asyncio.run(scenario())
    assert len(first) == 200
    early = sum(1 for at in first.values() if at < 0.5)
    assert 50 < early < 150  # about half in the first half-second, not all at once


def test_only_plain_tcp_checks_of_ip_addresses_use_the_connect_prober() -> None:
    assert can_probe(tcp(80))
    assert can_probe(CheckSpec("tcp", host="::1", port=80))
    assert not can_probe(CheckSpec("tcp", host="localhost", port=80))
    assert not can_probe(CheckSpec("tcp", host="127.0.0.1", port=0))
    assert not can_probe(CheckSpec("send_expect", host="127.0.0.1", port=80, expect="x"))


def test_the_connect_prober_reports_what_run_check_reports(servers: ServerLoop, unresponsive_port: int) -> None:
    specs = {
        "up": tcp(servers.tcp(accept_and_wait)),
        "up6": CheckSpec("tcp", host="::1", port=servers.tcp(accept_and_wait, host="::1"), timeout=2),
        "refused": tcp(closed_port()),
        "silent": tcp(unresponsive_port, timeout=0.4),
        "silent-later": tcp(unresponsive_port, timeout=0.8),
    }

    async def scenario() -> tuple[dict[str, CheckResult], dict[str, CheckResult], float]:
        probed: dict[str, CheckResult] = {}
        finished = asyncio.Event()

        def collect(key: str, result: CheckResult) -> None:
            probed[key] = result
            if len(probed) == len(specs):
                finished.set()

        started = time.monotonic()
        prober = ConnectProber(collect)
        for key, spec in specs.items():
            prober.start(key, spec)
        await asyncio.wait_for(finished.wait(), 3)
        elapsed = time.monotonic() - started
        assert len(prober) == 0
        prober.close()
        general = {key: await run_check(spec) for key, spec in specs.items()}
        return probed, general, elapsed

    probed, general, elapsed = asyncio.run(scenario())
    assert {k: (r.ok, r.reason) for k, r in probed.items()} == {k: (r.ok, r.reason) for k, r in general.items()}
    assert probed["up"].reason == "connected"
    assert probed["refused"].reason == "connection refused"
    assert probed["silent"].reason == "timed out after 0.4 s connecting"
    assert 0.38 < probed["silent"].latency_ms / 1000 < 0.7
    assert probed["silent-later"].reason == "timed out after 0.8 s connecting"
    assert elapsed < 1.3  # each timed out at its own deadline, the others did not wait


def test_a_silent_server_does_not_delay_fast_tcp_checks_in_the_scheduler(
    servers: ServerLoop, unresponsive_port: int
) -> None:
    up = servers.tcp(accept_and_wait)
    arrivals: dict[str, list[float]] = defaultdict(list)

    async def scenario() -> None:
        started = time.monotonic()
        scheduler = Scheduler(lambda target_id, r: arrivals[target_id].append(time.monotonic() - started), spread=False)
        scheduler.set_targets(
            [Target("silent", tcp(unresponsive_port, timeout=1.0), 0.1)]
            + [Target(f"up{i}", distinct_tcp(up, i), 0.1) for i in range(20)]
        )
        await run_scheduler_for(scheduler, 0.75)

    asyncio.run(scenario())
    assert arrivals["silent"] == []  # still waiting for its 1 s timeout
    assert all(len(arrivals[f"up{i}"]) >= 6 for i in range(20))


def test_the_scheduler_runs_again_after_stop_and_retries_the_checks_it_abandoned(unresponsive_port: int) -> None:
    seen: list[CheckResult] = []

    async def scenario() -> Scheduler:
        scheduler = Scheduler(lambda target_id, result: seen.append(result), spread=False)
        scheduler.add(Target("silent", tcp(unresponsive_port, timeout=0.3), 60))
        await run_scheduler_for(scheduler, 0.1)  # stopped before the timeout: no result
        assert seen == []
        await run_scheduler_for(scheduler, 0.6)
        return scheduler

    scheduler = asyncio.run(scenario())
    assert [r.reason for r in seen] == ["timed out after 0.3 s connecting"]
    assert scheduler.stats.started == 2


def test_the_connect_prober_reuses_its_sockets_and_every_connection_still_ends_in_a_reset(
    servers: ServerLoop, unresponsive_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check's socket is reset (connect to AF_UNSPEC) and kept for the next check: the
    servers must still see each connection end in an RST, never a FIN or an idle socket,
    and results must not leak from one check into the next (refused, timed out, IPv6,
    HTTP exchanges on the same sockets, chunked or not, up or 503)."""
    from monitoring.checks import connect_prober

    created: list[int] = []
    real_socket = connect_prober._new_socket
    monkeypatch.setattr(connect_prober, "_new_socket", lambda family, kind: created.append(family) or real_socket(family, kind))
    ends: list[str] = []

    async def record_the_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ends.append("FIN" if await reader.read() == b"" else "data")
        except ConnectionResetError:
            ends.append("RST")

    up = tcp(servers.tcp(record_the_end))
    up6 = CheckSpec("tcp", host="::1", port=servers.tcp(record_the_end, host="::1"), timeout=2)
    refused = tcp(closed_port())
    silent = tcp(unresponsive_port, timeout=0.2)
    seen: list[SeenRequest] = []
    owa = CheckSpec("http", host="127.0.0.1", port=servers.tcp(http_server(owa_route(True), seen)),
                    http_path="/owa", http_body="Outlook", timeout=2)
    chunked = CheckSpec("http", host="127.0.0.1", timeout=2, http_path="/", http_body="chunk",
                        port=servers.tcp(http_server(lambda request: HttpReply(200, b"in a chunk or two", chunked=True))))
    broken = CheckSpec("http", host="127.0.0.1", port=servers.tcp(http_server(owa_route(False))), http_path="/owa",
                       timeout=2)
    sequence = [up, up, refused, owa, up, up6, chunked, up6, silent, up, broken, refused, up, owa] * 3

    async def one_by_one() -> list[str]:
        prober = ConnectProber(lambda key, result: done.set_result(result))
        reasons = []
        for spec in sequence:
            done: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
            prober.start(spec, spec)
            reasons.append((await asyncio.wait_for(done, 2)).reason)
        prober.close()
        return reasons

    reasons = asyncio.run(one_by_one())
    expected = {up: "connected", up6: "connected", refused: "connection refused",
                silent: "timed out after 0.2 s connecting", owa: "HTTP 200, body matched",
                chunked: "HTTP 200, body matched", broken: "HTTP 503"}
    assert reasons == [expected[spec] for spec in sequence]
    deadline = time.monotonic() + 2
    connected = sum(spec in (up, up6) for spec in sequence)
    while len(ends) < connected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ends == ["RST"] * connected
    assert [request.path for request in seen] == ["/owa"] * sequence.count(owa)
    # New sockets only at the start and after each timeout (a timed-out socket is closed).
    assert len(created) < len(sequence) / 5, created
