"""Bench: how much CPU the checker spends to run N checks every INTERVAL seconds.

    python bench/bench_checks.py [--targets 5000] [--interval 2] [--seconds 10]
                                 [--kind tcp|http] [--no-fast-tcp]

The servers run in a separate process (so their CPU is not counted); the checker runs
the real Scheduler with spread start times, and the CPU of this process over the
measured window is divided by the wall time of that window.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, when in bench/

from monitoring.checks import CheckSpec, Scheduler, Target  # noqa: E402

PORTS = 50
HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\nWelcome to Outlook.."


class Accept(asyncio.Protocol):
    """TCP: accept and drop. HTTP: answer the request, then close."""

    def __init__(self, http: bool) -> None:
        self.http = http

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if not self.http:
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            self.transport.write(HTTP_REPLY)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def serve(http: bool, ready: multiprocessing.Queue) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ports = []
        for _ in range(PORTS):
            server = await loop.create_server(lambda: Accept(http), "127.0.0.1", 0, backlog=4096)
            ports.append(server.sockets[0].getsockname()[1])
        ready.put(ports)
        await asyncio.Event().wait()

    asyncio.run(main())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(ports: list[int], args: argparse.Namespace) -> None:
    done = {"ok": 0, "down": 0}
    reasons: dict[str, int] = {}

    def record(target_id: int, result) -> None:
        done["ok" if result.ok else "down"] += 1
        if not result.ok:
            reasons[result.reason] = reasons.get(result.reason, 0) + 1

    def spec(i: int) -> CheckSpec:
        port = ports[i % len(ports)]
        if args.kind == "http":
            return CheckSpec("http", host="127.0.0.1", port=port, http_path="/owa", http_body="utlook", timeout=2)
        return CheckSpec("tcp", host="127.0.0.1", port=port, timeout=2)

    scheduler = Scheduler(record, fast_tcp=args.fast_tcp)
    scheduler.set_targets(Target(i, spec(i), args.interval) for i in range(args.targets))
    runner = asyncio.create_task(scheduler.run())
    await asyncio.sleep(args.interval * 1.5)  # warm-up: every target has started once

    before = dict(done)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    scheduler.stats.max_start_lag_ms = 0.0
    await asyncio.sleep(args.seconds)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    after = dict(done)
    scheduler.stop()
    await runner

    wall, cpu = wall1 - wall0, cpu1 - cpu0
    checks = after["ok"] + after["down"] - before["ok"] - before["down"]
    print(f"kind={args.kind} fast_tcp={args.fast_tcp} targets={args.targets} interval={args.interval}s window={wall:.1f}s")
    print(f"checks completed: {checks} ({checks / wall:.0f}/s; expected {args.targets / args.interval:.0f}/s)")
    print(f"down: {after['down'] - before['down']} {dict(list(reasons.items())[:3])}")
    print(f"checker CPU: {cpu:.2f}s over {wall:.1f}s = {100 * cpu / wall:.1f}% of one core "
          f"({1e6 * cpu / max(checks, 1):.0f} us per check)")
    print(f"worst start lag: {scheduler.stats.max_start_lag_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kind", choices=("tcp", "http"), default="tcp")
    parser.add_argument("--no-fast-tcp", dest="fast_tcp", action="store_false",
                        help="run TCP checks as tasks through run_check, not the ConnectProber")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.kind == "http", ready), daemon=True)
    server.start()
    try:
        asyncio.run(measure(ready.get(timeout=10), args))
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
