"""Director failover, measured in the lab: lbadmin configures the pair (dirA, dirB) with
keepalived VRRP and the IPVS connection-sync daemon, then the master is killed for real
(every process in it SIGKILLed, its link down) while the pair's client probes the VIP.

For each advert interval (0.1 s, sub-second with VRRP v3, and keepalived's default 1 s):
- the outage a client sees: the gap between the last answer before the kill and the first
  after it, probing a new HTTP connection every 50 ms (250 ms timeout);
- the takeover as the directors saw it: kill -> the backup's MASTER notify (its clock);
- whether an established TCP connection through the VIP (an echo held open, one byte per
  100 ms) survived, thanks to the sync daemon.

    .venv/bin/python bench/bench_failover.py [--runs 3]

The last line is exactly `failover outage: <seconds> s; established connection kept:
<yes|no>` for the sub-second setting (the worst run). TCG is several times slower than a
real machine; the article this project started from lost about 20 s per failover.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

from lab import topology  # noqa: E402
from lab.probe import outages  # noqa: E402
from lab.services import start_redis  # noqa: E402
from lab.vm import LabVM  # noqa: E402

VIP = topology.PAIR_VIP_POOL_V4[2]
PROBE_SECONDS = 8


def setup_django(data_dir: str, redis_url: str) -> None:
    os.environ.update(LBADMIN_DATA_DIR=data_dir, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="lbadmin.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def configure(vm: LabVM, advert: str) -> list:
    """The pair as an operator would define it, applied by lbadmin's reconcile."""
    from lbadmin.management.commands.lab import register_lab_director
    from lbadmin.models import Director, RedundancyGroup
    from virtualservers.models import RealServer, VirtualServer
    from virtualservers.reconcile import reconcile_director

    Director.objects.all().delete()
    RedundancyGroup.objects.all().delete()
    VirtualServer.objects.all().delete()
    group = RedundancyGroup.objects.create(name="bench", virtual_router_id=53, interface=topology.PAIR_INTERFACE,
                                           advert_interval=advert, preempt=False, sync_daemon=True, sync_id=9)
    directors = [register_lab_director(vm, name, pair=name, group=group, priority=prio)
                 for name, prio in (("dirA", 150), ("dirB", 100))]
    for port, servers in ((topology.HTTP_PORT, list(topology.PAIR_REAL_SERVERS.values())),
                          (topology.ECHO_PORT, list(topology.PAIR_REAL_SERVERS.values())[:1])):
        vs = VirtualServer.objects.create(name=f"bench-{port}", address=VIP, port=port, active=True, scheduler="rr",
                                          forwarding="direct", device=topology.PAIR_INTERFACE)
        for rs in servers:
            RealServer.objects.create(virtual_server=vs, name=rs.name, address=rs.ipv4, admin_state="enabled")
    for director in directors:
        reconcile_director(director.pk, "bench")
    return directors


def wait_master(vm: LabVM, name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while "MASTER" not in vm.run_on_director(name, ["sh", "-c", "tail -n 1 /etc/keepalived/lbadmin/vrrp.log"])[1]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} never became MASTER")
        time.sleep(0.2)


def one_run(vm: LabVM, advert: str) -> dict:
    vm.reset_pair()
    configure(vm, advert)
    vm.wait_for_vip_holders(VIP, timeout=20)
    wait_master(vm, "dirA")
    held = vm.start_probe("hold", VIP, topology.ECHO_PORT, interval_ms=100, duration_s=PROBE_SECONDS)
    probe = vm.start_probe("http", VIP, topology.HTTP_PORT, interval_ms=50, duration_s=PROBE_SECONDS, timeout_ms=250)
    vm.wait_for_probe_lines(probe, 20)
    deadline = time.monotonic() + 10  # the held connection must be known to the backup first
    while f"{VIP}:{topology.ECHO_PORT}" not in vm.check_on_director("dirB", ["ipvsadm", "-L", "-n", "-c"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    killed_at = float(vm.check(["date", "+%s.%N"]).strip())
    vm.kill_director("dirA")
    wait_master(vm, "dirB")
    master_line = vm.check_on_director("dirB", ["sh", "-c", "grep MASTER /etc/keepalived/lbadmin/vrrp.log | tail -n 1"])
    lines = vm.probe_results(probe)
    held_lines = vm.probe_results(held)
    gaps = [g.seconds for g in outages(lines)]
    failed_at_end = bool(lines) and not lines[-1].ok
    # A client that never got an answer again had an outage longer than the probe.
    outage = float("inf") if failed_at_end or not lines else (max(gaps) if gaps else 0.0)
    return {"outage": outage, "gaps": len(gaps), "probes": len(lines),
            "ended_ok": not failed_at_end,
            "takeover": float(master_line.split()[0]) - killed_at if master_line else float("nan"),
            "kept": bool(held_lines) and held_lines[-1].status == "end" and held_lines[-1].detail.startswith("survived")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # one line per SSH login otherwise
    redis_url, stop_redis = start_redis()
    vm = LabVM(name="bench-failover")
    print("booting the lab (director pair)...", file=sys.stderr)
    vm.start()
    results: dict[str, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            setup_django(data_dir, redis_url)
            for advert in ("0.1", "1"):
                for run in range(args.runs):
                    result = one_run(vm, advert)
                    results.setdefault(advert, []).append(result)
                    print(f"advert {advert} s, run {run + 1}: client outage {result['outage']:.2f} s "
                          f"({result['probes']} probes every 50 ms, {result['gaps']} gap(s)), "
                          f"backup MASTER {result['takeover']:.2f} s after the kill, "
                          f"held connection {'kept' if result['kept'] else 'LOST'}", flush=True)
    finally:
        vm.stop()
        stop_redis()
    for advert, runs in results.items():
        worst = max(r["outage"] for r in runs)
        print(f"advert {advert} s: worst outage {worst:.2f} s over {len(runs)} runs; "
              f"{sum(r['kept'] for r in runs)}/{len(runs)} held connections kept; "
              f"vs the article's ~20 s: {20 / worst if worst else float('inf'):.0f}x shorter")
    fast = results["0.1"]
    worst = max(r["outage"] for r in fast)
    kept = all(r["kept"] for r in fast)
    print(f"failover outage: {worst:.2f} s; established connection kept: {'yes' if kept else 'no'}")


if __name__ == "__main__":
    main()
