"""Bench: how much CPU the checker spends to run N checks every INTERVAL seconds.

    python bench/bench_checks.py [--targets 5000] [--interval 2] [--seconds 10]
                                 [--kind tcp|http] [--no-fast-tcp]
                                 [--baseline nanny|keepalived]

--baseline nanny: the same TCP targets checked nanny-style, one process per real server
(a small C program, compiled here with gcc, forks one child per target; each connects,
closes and sleeps its interval), all children's CPU counted.
--all: one run of everything, ending in the ratios line: TCP at --targets, the same
system calls in a bare loop (the kernel's floor), HTTP at --http-targets (default: as
many as TCP, so both run at the same rate), TCP at --many-targets (must keep up on one
core), nanny, keepalived, detection latency.
--baseline keepalived: Debian's keepalived with a TCP_CHECK per target (checker process
only); it needs the kernel's IPVS, and says so when it cannot start.

The servers are a small C program in a separate process (so their CPU is not counted)
and listen on every address; each target is a loopback address of its own (127.1.x.y), so no two targets
share a probe (the Scheduler runs identical checks once). The checker runs the real
Scheduler with spread start times, and the CPU of this process over the
measured window is divided by the wall time of that window.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import asyncio
import multiprocessing
import resource
import select
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, when in bench/

from lab.services import start_redis  # noqa: E402
from monitoring.checks import CheckSpec, Scheduler, Target  # noqa: E402

PORTS = 50
HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\nWelcome to Outlook.."


def listeners(count: int) -> list[socket.socket]:
    """Listening sockets on every address, so each target can be its own loopback address
    (127.1.x.y: the kernel routes all of 127/8 to lo) and no two targets share a check."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("0.0.0.0", 0))
        sock.listen(4096)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def serve(http: bool, ready: multiprocessing.Queue) -> None:
    """The targets' servers, in C and in a process of their own (their CPU is not the
    checker's): a Python server could not keep up with thousands of connects a second on
    a busy 2-core machine, and the SYNs it left in full accept queues came back a second
    later, as if the checker were slow. TCP: accept and close at once. HTTP: read the
    request, answer HTTP_REPLY, close."""
    socks = listeners(PORTS)
    ready.put([sock.getsockname()[1] for sock in socks])
    with tempfile.TemporaryDirectory() as work:
        binary = compile_c(work, "answer", ANSWER_C)
        for sock in socks:
            sock.set_inheritable(True)
        reply = HTTP_REPLY.decode() if http else ""
        os.execv(binary, [binary, reply, *(str(sock.fileno()) for sock in socks)])


ANSWER_C = r"""
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* usage: answer REPLY FD...; accepts on every listening fd. REPLY empty: close at once;
   otherwise read the request (one read: a check's request is a few hundred bytes),
   write REPLY and close. */
#define LISTENING ((uint64_t)1 << 32)
int main(int argc, char **argv) {
    const char *reply = argv[1];
    size_t reply_length = strlen(reply);
    int ep = epoll_create1(0);
    for (int i = 2; i < argc; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = LISTENING | (uint32_t)atoi(argv[i])};
        epoll_ctl(ep, EPOLL_CTL_ADD, atoi(argv[i]), &e);
    }
    struct epoll_event ready[256];
    char buffer[4096];
    for (;;) {
        int n = epoll_wait(ep, ready, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)ready[i].data.u64, c;
            if (!(ready[i].data.u64 & LISTENING)) {
                ssize_t got = read(fd, buffer, sizeof buffer);
                if (got > 0 && write(fd, reply, reply_length) < 0) { /* the checker gave up */ }
                close(fd);
                continue;
            }
            while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                if (!reply_length) { close(c); continue; }
                struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint32_t)c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
            }
        }
    }
}
"""


def compile_c(work: str, name: str, source_text: str) -> str:
    source, binary = os.path.join(work, f"{name}.c"), os.path.join(work, name)
    with open(source, "w") as handle:
        handle.write(source_text)
    subprocess.run(["gcc", "-O2", "-o", binary, source], check=True)
    return binary


def target_host(i: int) -> str:
    """A loopback address of its own for target i."""
    return f"127.1.{i // 250 % 250}.{1 + i % 250}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


async def measure(ports: list[int], args: argparse.Namespace) -> dict[str, float]:
    done = {"ok": 0, "down": 0}
    reasons: dict[str, int] = {}
    last_seen: dict[int, float] = {}
    cycle_lags: list[float] = []  # per result: (time since the same target's last result) - interval
    measuring = {"on": False}
    latencies: list[float] = []

    def record(target_id: int, result) -> None:
        if measuring["on"]:
            latencies.append(result.latency_ms)
        done["ok" if result.ok else "down"] += 1
        if not result.ok:
            reasons[result.reason] = reasons.get(result.reason, 0) + 1
        now = time.monotonic()
        previous = last_seen.get(target_id)
        last_seen[target_id] = now
        if previous is not None and measuring["on"]:
            cycle_lags.append(now - previous - args.interval)

    def spec(i: int) -> CheckSpec:
        port = ports[i % len(ports)]
        if args.kind == "http":
            return CheckSpec("http", host=target_host(i), port=port, http_path="/owa", http_body="utlook", timeout=2)
        return CheckSpec("tcp", host=target_host(i), port=port, timeout=2)

    scheduler = Scheduler(record, fast_tcp=args.fast_tcp)
    scheduler.set_targets(Target(i, spec(i), args.interval) for i in range(args.targets))
    runner = asyncio.create_task(scheduler.run())
    await asyncio.sleep(args.interval * 1.5)  # warm-up: every target has started once

    before = dict(done)
    cpu0, sys0, wall0 = cpu_seconds(), system_seconds(), time.monotonic()
    scheduler.stats.max_start_lag_ms = 0.0
    measuring["on"] = True
    await asyncio.sleep(args.seconds)
    measuring["on"] = False
    cpu1, sys1, wall1 = cpu_seconds(), system_seconds(), time.monotonic()
    after = dict(done)
    scheduler.stop()
    await runner

    wall, cpu = wall1 - wall0, cpu1 - cpu0
    checks = after["ok"] + after["down"] - before["ok"] - before["down"]
    print(f"kind={args.kind} fast_tcp={args.fast_tcp} targets={args.targets} interval={args.interval}s window={wall:.1f}s")
    print(f"checks completed: {checks} ({checks / wall:.0f}/s; expected {args.targets / args.interval:.0f}/s)")
    print(f"down: {after['down'] - before['down']} {dict(list(reasons.items())[:3])}")
    print(f"checker CPU: {cpu:.2f}s over {wall:.1f}s = {100 * cpu / wall:.1f}% of one core "
          f"({1e6 * cpu / max(checks, 1):.0f} us per check, of which {1e6 * (sys1 - sys0) / max(checks, 1):.0f} us "
          "in the kernel)")
    latencies.sort()
    if latencies:
        print(f"check latency: p50 {latencies[len(latencies) // 2]:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms, worst {latencies[-1]:.1f} ms")
    print(f"worst start lag: {scheduler.stats.max_start_lag_ms:.1f} ms")
    if cycle_lags:
        lags = sorted(cycle_lags)
        p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(f"check cycle lag (gap between one target's results minus the interval), {len(lags)} cycles: "
              f"p50 {1000 * p50:.1f} ms, p99 {1000 * p99:.1f} ms, worst {1000 * lags[-1]:.1f} ms")
    worst = 1000 * max(cycle_lags) if cycle_lags else float("nan")
    return {"rate": checks / wall, "cpu": cpu / wall, "per_check": cpu / max(checks, 1), "worst_lag_ms": worst,
            "wanted": args.targets / args.interval}


def syscall_floor(ports: list[int], args: argparse.Namespace) -> dict[str, float]:
    """What the kernel alone charges: the ConnectProber's system calls per check in a bare
    loop at the same rate, no scheduler and no results: a reused socket's connect, the
    epoll_ctl that re-arms it, a shared epoll_wait, the disconnect (connect to AF_UNSPEC)
    that resets it (a new socket with SO_LINGER when none is spare). lbadmin's per-check
    CPU minus this is its own."""
    import _socket
    import struct

    from monitoring.checks.connect_prober import _UNSPEC_ADDRESS, _disconnect

    linger = struct.pack("ii", 1, 0)
    armed = select.EPOLLOUT | select.EPOLLONESHOT
    addresses = [(target_host(i), ports[i % len(ports)]) for i in range(args.targets)]
    rate = args.targets / args.interval
    poller, pending, spare, started = select.epoll(), {}, [], 0
    cpu0, sys0, wall0 = cpu_seconds(), system_seconds(), time.monotonic()
    while (elapsed := time.monotonic() - wall0) < args.seconds:
        while started < rate * elapsed:
            if spare:
                sock = spare.pop()
                sock.connect_ex(addresses[started % len(addresses)])
                poller.modify(sock.fileno(), armed)
            else:
                sock = _socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                sock.connect_ex(addresses[started % len(addresses)])
                poller.register(sock.fileno(), armed)
            pending[sock.fileno()] = sock
            started += 1
        for fd, _ in poller.poll(0.002):
            sock = pending.pop(fd)
            if _disconnect is not None and _disconnect(fd, _UNSPEC_ADDRESS, 16) == 0:
                spare.append(sock)
            else:
                sock.close()
    for sock in [*pending.values(), *spare]:
        sock.close()
    cpu, system = cpu_seconds() - cpu0, system_seconds() - sys0
    print(f"floor (the same system calls in a bare loop, {started / args.seconds:.0f}/s): "
          f"{1e6 * cpu / max(started, 1):.0f} us per check, of which {1e6 * system / max(started, 1):.0f} us in the kernel")
    return {"per_check": cpu / max(started, 1)}


NANNY_C = r"""
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

/* usage: nanny N INTERVAL SECONDS PORT... ; one process per target, like nanny */
int main(int argc, char **argv) {
    int n = atoi(argv[1]); double interval = atof(argv[2]), seconds = atof(argv[3]);
    int nports = argc - 4;
    long *counts = mmap(NULL, sizeof(long) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double end = now() + seconds;
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[4 + i % nports]));
            char host[32]; snprintf(host, sizeof host, "127.1.%d.%d", i / 250 % 250, 1 + i % 250);  /* target_host() */
            inet_pton(AF_INET, host, &a.sin_addr);
            usleep((useconds_t)(interval * 1e6 * i / n));  /* spread, as the Scheduler does */
            while (now() < end) {
                double start = now();
                int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                if (connect(s, (struct sockaddr *)&a, sizeof a) < 0 && errno == EINPROGRESS) {
                    struct pollfd p = {s, POLLOUT, 0}; poll(&p, 1, 2000);
                }
                close(s);
                counts[i]++;
                double left = interval - (now() - start);
                if (left > 0) usleep((useconds_t)(left * 1e6));
            }
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {}
    long total = 0; for (int i = 0; i < n; i++) total += counts[i];
    struct rusage r; getrusage(RUSAGE_CHILDREN, &r);
    printf("%ld %f\n", total, r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6);
    return 0;
}
"""


def nanny_baseline(ports: list[int], args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        binary = compile_c(work, "nanny", NANNY_C)
        started = time.monotonic()
        done = subprocess.run([binary, str(args.targets), str(args.interval), str(args.seconds), *map(str, ports)],
                              capture_output=True, text=True, check=True)
        wall = time.monotonic() - started
    checks, cpu = done.stdout.split()
    checks_n, cpu_s = int(checks), float(cpu)
    print(f"baseline=nanny (one process per real server) targets={args.targets} interval={args.interval}s "
          f"window={wall:.1f}s (includes forking)")
    print(f"checks completed: {checks_n} ({checks_n / wall:.0f}/s; expected {args.targets / args.interval:.0f}/s)")
    print(f"CPU of all checker processes: {cpu_s:.2f}s over {wall:.1f}s = {100 * cpu_s / wall:.1f}% of one core "
          f"({1e6 * cpu_s / max(checks_n, 1):.0f} us per check)")
    return {"rate": checks_n / wall, "cpu": cpu_s / wall, "per_check": cpu_s / max(checks_n, 1)}


def keepalived_baseline(ports: list[int], args: argparse.Namespace) -> None:
    binary = shutil.which("keepalived")
    if binary is None:
        print("baseline=keepalived: not installed (apt-get install keepalived)")
        return
    blocks = []
    for i in range(args.targets):
        vip_port = 10000 + i // 100
        blocks.append((vip_port, ports[i % len(ports)], i))
    lines = ["global_defs {\n  router_id bench\n}\n"]
    by_vip: dict[int, list[tuple[int, int]]] = {}
    for vip_port, port, i in blocks:
        by_vip.setdefault(vip_port, []).append((port, i))
    for vip_port, reals in by_vip.items():
        lines.append(f"virtual_server 127.0.0.1 {vip_port} {{\n  delay_loop {args.interval:g}\n  lb_kind NAT\n"
                     "  protocol TCP\n")
        for port, i in reals:
            lines.append(f"  real_server 127.0.{1 + i // 250 % 250}.{1 + i % 250} {port} {{\n"
                         f"    TCP_CHECK {{\n      connect_ip 127.0.0.1\n      connect_port {port}\n"
                         "      connect_timeout 2\n    }\n  }\n")
        lines.append("}\n")
    with tempfile.TemporaryDirectory() as work:
        conf = os.path.join(work, "keepalived.conf")
        with open(conf, "w") as handle:
            handle.write("".join(lines))
        argv = [binary, "--dont-fork", "--log-console", "--check", "--use-file", conf,
                "--pid", os.path.join(work, "k.pid"), "--checkers_pid", os.path.join(work, "c.pid")]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            output, _ = process.communicate(timeout=args.seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)
            output, _ = process.communicate(timeout=10)
            print(f"baseline=keepalived ran for {args.seconds}s; its log tail:")
        else:
            print(f"baseline=keepalived exited with {process.returncode} before the window ended; its log tail:")
    for line in [l for l in output.strip().splitlines() if "Shutting down service" not in l][-8:]:
        print("  " + line)


def detection_latency(ports: list[int], args: argparse.Namespace) -> None:
    """A listener dies -> until its real server leaves desired_table().

    Runs the real checker (monitoring.checker.Checker: the Scheduler's loop thread and the
    control thread applying results through monitoring.health_counter.record_results), in this
    process, on a throwaway SQLite database and a Redis of its own; `args.targets` real
    servers on the loopback listeners plus one on a listener of its own, which is closed.
    """
    import socket as socket_module

    work = Path(tempfile.mkdtemp(prefix="lbadmin-bench-detect-"))
    redis_url, stop_redis = start_redis()
    os.environ.update({"DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "REDIS_URL": redis_url,
                       "LBADMIN_DATA_DIR": str(work), "DJANGO_SETTINGS_MODULE": "lbadmin.settings"})
    import logging

    import django

    django.setup()
    logging.getLogger("monitoring").setLevel(logging.WARNING)  # one line per transition otherwise
    from django.core.management import call_command

    from lbadmin.models import Director
    from monitoring.checker import Checker
    from virtualservers.desired import desired_table
    from virtualservers.ipvs import render
    from virtualservers.models import HealthCheck, RealServer, VirtualServer

    call_command("migrate", "--noinput", verbosity=0)
    director = Director.objects.create(name="bench", address="127.0.0.1", transport="local", enabled=True)
    vs = VirtualServer.objects.create(name="bench", address="10.255.0.1", port=80, protocol="tcp",
                                      scheduler="rr", forwarding="nat", active=True)
    HealthCheck.objects.create(virtual_server=vs, check_type="tcp", interval=int(args.interval), timeout=1,
                               fall=args.fall, rise=2)
    victim = socket_module.socket()
    victim.bind(("127.0.0.1", 0))
    victim.listen(1024)  # the kernel completes connects from the backlog; no accept needed
    RealServer.objects.bulk_create(
        [RealServer(virtual_server=vs, name=f"rs{i}", address=f"10.254.{i // 250}.{1 + i % 250}", weight=1,
                    admin_state="enabled", check_address=target_host(i), check_port=ports[i % len(ports)])
         for i in range(args.targets)]
        + [RealServer(virtual_server=vs, name="victim", address="10.253.0.1", weight=1, admin_state="enabled",
                      check_address="127.0.0.1", check_port=victim.getsockname()[1])])
    checker = Checker("bench")
    checker.start()
    try:
        limit = time.monotonic() + 60
        while RealServer.objects.filter(virtual_server=vs, health="up").count() < args.targets + 1:
            if time.monotonic() > limit:
                raise SystemExit("detection: the real servers were not all seen up within 60 s")
            time.sleep(0.2)
        time.sleep(args.interval)
        died = time.monotonic()
        victim.close()
        while "-r 10.253.0.1:" in render(desired_table(director)):
            time.sleep(0.01)
        latency = time.monotonic() - died
    finally:
        checker.stop()
        stop_redis()
    goal = args.fall * args.interval + 0.5
    print(f"detection latency (real checker, {args.targets + 1} TCP targets, interval {args.interval:g} s, "
          f"fall {args.fall}): listener closed -> out of desired_table() in {latency:.2f} s "
          f"(goal fall x interval + 0.5 s = {goal:.1f} s; nanny-style fall 1 would be up to {args.interval:g} s, "
          f"keepalived TCP_CHECK with retry {args.fall - 1} up to about {args.fall * args.interval:g} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kind", choices=("tcp", "http"), default="tcp")
    parser.add_argument("--no-fast-tcp", dest="fast_tcp", action="store_false",
                        help="run TCP checks as tasks through run_check, not the ConnectProber")
    parser.add_argument("--fall", type=int, default=3, help="for --detection: failures in a row to go down")
    parser.add_argument("--all", action="store_true",
                        help="one run: lbadmin, the nanny baseline, keepalived, detection latency, and ratios")
    parser.add_argument("--detection", action="store_true",
                        help="measure detection latency with the real checker instead (needs redis-server)")
    parser.add_argument("--baseline", choices=("nanny", "keepalived"),
                        help="measure a baseline on the same targets instead of lbadmin's checker")
    parser.add_argument("--http-targets", type=int,
                        help="for --all: the HTTP run's targets (default: --targets, so both run at the same rate: "
                             "a check's share of the loop's wake-ups depends on the rate)")
    parser.add_argument("--many-targets", type=int, default=20000,
                        help="for --all: the TCP run that must keep up on one core")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers: dict[bool, multiprocessing.Process] = {}

    def ports_of(http: bool) -> list[int]:
        ready: multiprocessing.Queue = multiprocessing.Queue()
        servers[http] = multiprocessing.Process(target=serve, args=(http, ready), daemon=True)
        servers[http].start()
        return ready.get(timeout=10)

    def run(**changes: object) -> argparse.Namespace:
        return argparse.Namespace(**{**vars(args), **changes})

    try:
        ports = ports_of(args.kind == "http")
        if args.all:
            ours = asyncio.run(measure(ports, run(kind="tcp")))
            floor = syscall_floor(ports, args)
            web = asyncio.run(measure(ports_of(True), run(kind="http", targets=args.http_targets or args.targets)))
            many = asyncio.run(measure(ports, run(kind="tcp", targets=args.many_targets)))
            nanny = nanny_baseline(ports, args)
            keepalived_baseline(ports, args)
            # Fewer targets for detection: bringing 5,000 new servers from unknown to up
            # writes 5,000 transitions first, which takes longer than the measurement.
            detection_latency(ports, run(targets=min(args.targets, 1000)))
            print(f"HTTP/TCP CPU per check: {1e6 * web['per_check']:.0f} us / {1e6 * ours['per_check']:.0f} us = "
                  f"{web['per_check'] / ours['per_check']:.2f}x (goal <= 2x); the kernel's share of TCP (floor): "
                  f"{1e6 * floor['per_check']:.0f} us, lbadmin's own {1e6 * (ours['per_check'] - floor['per_check']):.0f} us")
            print(f"{args.many_targets:,} TCP every {args.interval:g} s on one core: {many['rate']:.0f}/s of "
                  f"{many['wanted']:.0f}/s wanted, worst cycle lag {many['worst_lag_ms']:.0f} ms "
                  f"({'kept up' if many['rate'] >= 0.98 * many['wanted'] else 'FELL BEHIND'}); it used "
                  f"{100 * many['cpu']:.0f}% of one core, and at {1e6 * many['per_check']:.0f} us per check it needs "
                  f"{100 * many['per_check'] * many['wanted']:.0f}% (load average now {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} cores)")
            print(f"ratios lbadmin/nanny: checks per second {ours['rate'] / nanny['rate']:.2f}x, "
                  f"CPU share {ours['cpu'] / nanny['cpu']:.2f}x, CPU per check {ours['per_check'] / nanny['per_check']:.2f}x; "
                  "keepalived: no ratio (see its lines above and bench/README.md)")
        elif args.baseline == "nanny":
            nanny_baseline(ports, args)
        elif args.baseline == "keepalived":
            keepalived_baseline(ports, args)
        elif args.detection:
            detection_latency(ports, args)
        else:
            asyncio.run(measure(ports, args))
    finally:
        for server in servers.values():
            server.terminate()

if __name__ == "__main__":
    main()
