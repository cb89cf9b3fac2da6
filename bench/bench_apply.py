"""Apply speed against the lab director (a real IPVS kernel under QEMU/TCG).

Converges an empty director to 1,000 virtual servers x 8 real servers and
prints: the reconcile's time; one `ipvsadm -R` of the same rules (the floor
of this path); per-command ipvsadm as Piranha's lvsd did it (a 100-service
sample run inside the guest, scaled); the plan size and time of toggling one
real server on that table and on a 10-line table (one service x 9 real servers), and
their ratio (a change should cost what the change is, not what the table is); the peak
memory of the process that ran the reconcile.

    .venv/bin/python bench/bench_apply.py [--services 1000] [--per-service 8]

TCG is several times slower than a real machine: compare the ratios.
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import start_redis  # noqa: E402
from lab.vm import LabVM  # noqa: E402


def setup_django(data_dir: str, redis_url: str) -> None:
    os.environ.update(LBADMIN_DATA_DIR=data_dir, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="lbadmin.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


SMALL_REAL_SERVERS = 9  # with its service: a 10-line table
TOGGLES = 3  # per table; the median is reported (the machine is shared: noise)


def toggle_times(real_server, reconcile_director, director_id: int) -> tuple[list[float], object]:
    """Seconds of TOGGLES reconciles, each after flipping one real server's admin state."""
    times, outcome = [], None
    for _ in range(TOGGLES):
        real_server.admin_state = "disabled" if real_server.admin_state == "enabled" else "enabled"
        real_server.save()
        started = time.perf_counter()
        # As a toggle from the page or the API asks: touching its virtual server only.
        outcome = reconcile_director(director_id, trigger="bench toggle", touched=[real_server.virtual_server_id])
        times.append(time.perf_counter() - started)
        assert outcome.run.result == "ok", outcome.run.error
    return times, outcome


def table_lines() -> int:
    from io import StringIO

    from django.core.management import call_command

    rules = StringIO()
    call_command("ipvs_rules", stdout=rules)
    return rules.getvalue().count("\n")


def populate(services: int, per_service: int) -> None:
    from virtualservers.models import HealthCheck, RealServer, VirtualServer

    vss = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"svc{i}", address=f"10.20.{100 + i // 250}.{i % 250 + 1}", port=80, active=True,
                      scheduler="wlc", forwarding="nat") for i in range(services))
    small = VirtualServer.objects.create(name="small", address="10.21.0.1", port=80, active=False,
                                         scheduler="wlc", forwarding="nat")
    HealthCheck.objects.bulk_create(HealthCheck(virtual_server=vs) for vs in [*vss, small])
    RealServer.objects.bulk_create(
        RealServer(virtual_server=small, name=f"rs{j}", address=f"10.29.0.{j + 1}", port=8080,
                   admin_state="enabled", weight=1) for j in range(SMALL_REAL_SERVERS))
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"rs{j}", address=f"10.{30 + i // 200}.{i % 200}.{j + 1}", port=8080,
                   admin_state="enabled", weight=1) for i, vs in enumerate(vss) for j in range(per_service))


def first_services(rules: str, count: int) -> list[str]:
    """The lines of the first `count` services (each -A with its -a lines)."""
    taken, seen = [], 0
    for line in rules.splitlines():
        if line.startswith("-A "):
            seen += 1
            if seen > count:
                break
        taken.append(line)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--per-service", type=int, default=8)
    parser.add_argument("--sample", type=int, default=100, help="services in the per-command sample")
    args = parser.parse_args()

    redis_url, stop_redis = start_redis()
    vm = LabVM(name="bench", memory_mb=1024)
    print("booting the lab director...", file=sys.stderr)
    vm.start()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            setup_django(data_dir, redis_url)
            from django.core.management import call_command
            from io import StringIO

            from lbadmin.management.commands.lab import register_lab_director
            from virtualservers.models import RealServer, VirtualServer
            from virtualservers.reconcile import reconcile_director

            print(f"creating {args.services} x {args.per_service} in the database...", file=sys.stderr)
            populate(args.services, args.per_service)
            director = register_lab_director(vm, "bench")
            rules = StringIO()
            call_command("ipvs_rules", stdout=rules)
            rules = rules.getvalue()
            lines = rules.count("\n")

            vm.reset()
            print("reconcile from an empty table...", file=sys.stderr)
            started = time.perf_counter()
            outcome = reconcile_director(director.pk, trigger="bench")
            reconcile_s = time.perf_counter() - started
            assert outcome.run.result == "ok", outcome.run.error
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

            vm.reset()
            print("one ipvsadm -R of the same rules...", file=sys.stderr)
            started = time.perf_counter()
            vm.check(["ipvsadm", "-R"], input=rules, timeout=600)
            floor_s = time.perf_counter() - started

            vm.reset()
            sample_lines = first_services(rules, args.sample)
            sample = "\n".join(sample_lines) + "\n"
            script = "while read -r line; do ipvsadm $line || exit 1; done"
            print(f"per-command ipvsadm, {len(sample_lines)} commands...", file=sys.stderr)
            started = time.perf_counter()
            vm.check(["sh", "-c", script], input=sample, timeout=900)
            per_command_s = (time.perf_counter() - started) * lines / len(sample_lines)

            vm.reset()
            vm.check(["ipvsadm", "-R"], input=rules, timeout=600)
            reconcile_director(director.pk, trigger="bench")  # converged, records what was applied
            rs = RealServer.objects.filter(virtual_server__name="svc0").order_by("pk").first()
            big_times, toggle = toggle_times(rs, reconcile_director, director.pk)

            print("the same toggle on a 10-line table...", file=sys.stderr)
            VirtualServer.objects.exclude(name="small").update(active=False)
            VirtualServer.objects.filter(name="small").update(active=True)
            small_lines = table_lines()
            assert reconcile_director(director.pk, trigger="bench").run.result == "ok"
            small_rs = RealServer.objects.filter(virtual_server__name="small").order_by("pk").first()
            small_times, small_toggle = toggle_times(small_rs, reconcile_director, director.pk)
            toggle_s, small_s = statistics.median(big_times), statistics.median(small_times)

            print()
            print(f"table: {args.services} services x {args.per_service} real servers = {lines} ipvsadm lines (lab VM, QEMU TCG)")
            print(f"reconcile from empty:            {reconcile_s:7.2f} s  (read, plan, one -R batch, read back)")
            print(f"one ipvsadm -R of the rules:     {floor_s:7.2f} s  (the floor)")
            print(f"per-command ipvsadm (lvsd-like): {per_command_s:7.2f} s  (from a {len(sample_lines)}-command sample, scaled)")
            print(f"reconcile / floor:               {reconcile_s / floor_s:7.2f} x  (goal: <= 1.5)")
            print(f"per-command / reconcile:         {per_command_s / reconcile_s:7.2f} x")
            print(f"toggle one real server:          {len(toggle.commands)} command(s): {toggle.run.plan!r}, "
                  f"{toggle_s:.2f} s (median of {', '.join(f'{t:.2f}' for t in big_times)})")
            print(f"the same on {small_lines} lines:            {len(small_toggle.commands)} command(s), "
                  f"{small_s:.2f} s (median of {', '.join(f'{t:.2f}' for t in small_times)})")
            print(f"toggle on {lines} lines / toggle on {small_lines} lines: {toggle_s / small_s:.2f} x")
            print(f"peak memory of the reconciling process: {peak_mb:.0f} MB (goal: < 200 MB)")
    finally:
        vm.stop()
        stop_redis()


if __name__ == "__main__":
    main()
