"""Every page at scale: 1,000 virtual servers x 8 real servers, server time, bytes and queries.

A throwaway SQLite database (bulk_create: about 10 s) and a redis-server of its own
(lab.services); one enabled director whose live snapshot in Redis holds the whole table
(9,000 rows, written in the live poller's format, with a full 5-minute history of 150
points), a latest check result per real server and 200 audit entries. An admin logged in
with Django's test client asks for every page the menu reaches, and the partials that
pages poll, N times each; no director, worker or beat runs (the processes panel answers
from its own ping timeout then, which the bench shows apart: it waits, it does not work).

For each page: median server time of N (wall clock, and the CPU time of this process, the
web server's own work: on a shared machine the wall clock also counts the waits for a
core), bytes of the answer, database queries. The last line judges by CPU time. Then the
live table's poll as a browser does it: the first answer, a poll when nothing changed and
one when one real server's connections changed. Last line:

    pages: <n> pages, slowest <name> <ms> ms, <k> over 100 ms (server CPU; wall clock ...)

    .venv/bin/python bench/bench_pages.py [--services 1000] [--reals 8] [--runs 5]
    .venv/bin/python bench/bench_pages.py --profile control      # cProfile of one page
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import start_redis  # noqa: E402

LIMIT_MS = 100.0
HISTORY_POINTS = 150  # monitoring.live_poller.HISTORY_POINTS: 5 minutes of 2-s polls


def setup_django(work: Path, redis_url: str) -> None:
    os.environ.update({"DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "REDIS_URL": redis_url,
                       "LBADMIN_DATA_DIR": str(work), "DJANGO_SETTINGS_MODULE": "lbadmin.settings",
                       "LBADMIN_ALLOWED_HOSTS": "testserver,localhost", "LBADMIN_METRICS_ALLOW": "127.0.0.1/32"})
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def vip(i: int) -> str:
    return f"172.16.{i // 250}.{1 + i % 250}"


def real_address(n: int) -> str:
    return f"10.1.{n // 250}.{1 + n % 250}"


def build_data(services: int, reals: int):
    """The database: services x reals, all active, enabled and up, a TCP check each."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from lbadmin import audit
    from lbadmin.models import Director
    from lbadmin.roles import set_role
    from virtualservers.models import HealthCheck, RealServer, VirtualServer

    director = Director.objects.create(name="bench", address="127.0.0.1", transport="local", enabled=True)
    VirtualServer.objects.bulk_create(
        [VirtualServer(name=f"svc-{i:04d}", address=vip(i), port=80, protocol="tcp", scheduler="wlc",
                       forwarding="direct", vip_nmask="255.255.255.255", device="eth0:1", active=True)
         for i in range(services)], batch_size=500)
    ids = list(VirtualServer.objects.order_by("name").values_list("pk", flat=True))
    HealthCheck.objects.bulk_create([HealthCheck(virtual_server_id=pk) for pk in ids], batch_size=500)
    now = timezone.now()
    RealServer.objects.bulk_create(
        [RealServer(virtual_server_id=pk, name=f"rs{j}", address=real_address(i * reals + j), weight=1,
                    admin_state="enabled", health="up", health_since=now, health_reason="connected in 0.4 ms")
         for i, pk in enumerate(ids) for j in range(reals)], batch_size=1000)
    admin = User.objects.create_user("bench-admin", password="bench-pages-password-1")
    set_role(admin, "admin")
    for i in range(200):
        audit.record("update", object_type="bench", object_repr=f"entry {i}", before={"n": i}, after={"n": i + 1},
                     user=admin)
    return director, admin


def write_live_state(director, now: float | None = None) -> dict:
    """What the live poller and the checker would have written for a healthy table: the
    snapshot (monitoring.live_poller._snapshot's format, the table as lbadmin wants it, a few
    connections on each real server), a full history, and each real server's latest result."""
    from lbadmin.redis_client import get_redis
    from monitoring.live_poller import HISTORY_KEY, SNAPSHOT_KEY, dest_id
    from virtualservers import ipvs
    from virtualservers.desired import desired_table
    from virtualservers.health_facts import LAST_KEY, encode_last_result
    from virtualservers.models import ApplyRun, RealServer

    now = time.time() if now is None else now
    table = desired_table(director)
    services = []
    for key, service in sorted(table.items(), key=lambda kv: kv[0].sort_key()):
        dests = [{"id": dest_id(key, d.address, d.port), "address": d.address, "port": d.port,
                  "endpoint": d.endpoint, "forwarding": d.forwarding, "weight": d.weight,
                  "active": 3, "inactive": 12, "conns": 1500, "cps": 2, "inpps": 40, "outpps": 38,
                  "inbps": 9000, "outbps": 52000} for d in service.destinations.sorted()]
        services.append({"key": str(key), "label": key.label, "scheduler": service.scheduler,
                         "persistent": service.persistent, "netmask": service.netmask, "cps": 2 * len(dests),
                         "destinations": dests, "conns": 12000, "inpkts": 1, "outpkts": 1, "inbytes": 1,
                         "outbytes": 1, "kind": key.kind, "address": key.address, "port": key.port,
                         "fwmark": key.fwmark, "family": key.family})
    snapshot = {"ok": True, "error": "", "services": services, "table": ipvs.render(table), "took_ms": 420.0,
                "time": now, "director": director.name}
    redis = get_redis()
    pipe = redis.pipeline()
    pipe.set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot), ex=3600)
    pipe.delete(HISTORY_KEY.format(director.pk))
    for step in range(HISTORY_POINTS):
        point = {"t": now - 2 * (HISTORY_POINTS - step), "c": {d["id"]: (step + n) % 7 for s in services
                                                                for n, d in enumerate(s["destinations"])}}
        pipe.lpush(HISTORY_KEY.format(director.pk), json.dumps(point))
    pipe.hset(LAST_KEY, mapping={pk: encode_last_result(now, True, 0.4, "connected")
                                 for pk in RealServer.objects.values_list("pk", flat=True)})
    pipe.execute()
    # As after a reconcile: the table applied and verified, recorded with its run.
    director.applied_table = snapshot["table"]
    director.save(update_fields=["applied_table"])
    ApplyRun.objects.create(director=director, trigger="bench", result=ApplyRun.Result.OK)
    return snapshot


def refresh_snapshot(director) -> None:
    """A new reading of the same table, as the poller writes one every 2 s: the pages
    measured just after it see a current reading, not a stale one."""
    from lbadmin.redis_client import get_redis
    from monitoring.live_poller import SNAPSHOT_KEY

    redis = get_redis()
    snapshot = json.loads(redis.get(SNAPSHOT_KEY.format(director.pk)))
    snapshot["time"] = time.time()
    redis.set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot), ex=3600)


def pages(director) -> list[tuple[str, str, dict]]:
    """(name, URL, extra headers): every page the menu reaches, and the polled partials."""
    from django.urls import reverse

    from virtualservers.models import RealServer, VirtualServer

    vs = VirtualServer.objects.order_by("name")[VirtualServer.objects.count() // 2]
    rs = RealServer.objects.filter(virtual_server=vs).order_by("name").first()
    htmx = {"HTTP_HX_REQUEST": "true", "secure": True}
    page = {"secure": True}  # the settings redirect plain HTTP to HTTPS
    return [
        ("CONTROL/MONITORING", reverse("control"), page),
        ("  live table (poll)", reverse("control_live") + "?interval=2", htmx),
        ("  processes panel", reverse("control") + "?part=processes", htmx),
        ("  applies panel", reverse("control_applies"), htmx),
        ("GLOBAL SETTINGS", reverse("global_settings"), page),
        ("REDUNDANCY", reverse("redundancy_groups"), page),
        ("VIRTUAL SERVERS", reverse("virtual_list"), page),
        ("  add", reverse("virtual_add"), page),
        ("  one virtual server", reverse("virtual_edit", args=[vs.pk]), page),
        ("  its real servers", reverse("real_list", args=[vs.pk]), page),
        ("  one real server", reverse("real_edit", args=[vs.pk, rs.pk]), page),
        ("  its check", reverse("check_edit", args=[vs.pk]), page),
        ("  prepare real servers", reverse("real_prep", args=[vs.pk]), page),
        ("  health history", reverse("health_history", args=[rs.pk]), page),
        ("REAL SERVERS", reverse("host_list"), page),
        ("  one host", reverse("host_detail", args=[rs.address]), page),
        ("DIRECTORS", reverse("director_list"), page),
        ("  one director", reverse("director_edit", args=[director.pk]), page),
        ("USERS", reverse("user_list"), page),
        ("AUDIT LOG", reverse("audit_list"), page),
        ("CONFIGURATION", reverse("config_index"), page),
        ("  its export notes", reverse("config_index") + "?part=notes", htmx),
        ("  import", reverse("config_import"), page),
        ("  restore", reverse("config_restore"), page),
        ("  template", reverse("config_template"), page),
        ("  export lvs.cf", reverse("config_export_lvscf"), page),
        ("  export keepalived.conf", reverse("config_export_keepalived"), page),
        ("  backup.json", reverse("config_backup"), page),
        ("password", reverse("password_change"), page),
        ("/metrics", reverse("metrics"), page),
    ]


def measure(client, url: str, headers: dict, runs: int, before=None) -> tuple[float, int, int, int, float]:
    """(median ms, bytes, queries, status, median CPU ms) of `runs` GETs; `before()` runs
    before each, untimed. CPU is this process's: on a shared machine the wall time also
    holds the waits for a core, and Redis's own work is not in it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, cpu, size, queries, status = [], [], 0, 0, 0
    for _ in range(runs):
        if before is not None:
            before()
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, **headers)
            content = b"".join(response.streaming_content) if response.streaming else response.content
            times.append(1000 * (time.perf_counter() - started))
            cpu.append(1000 * (time.process_time() - started_cpu))
        size, queries, status = len(content), len(captured), response.status_code
    return statistics.median(times), size, queries, status, statistics.median(cpu)


def live_polls(client, director, runs: int) -> list[tuple[str, float, int, float]]:
    """The live table as an open CONTROL page polls it: (what, median ms, bytes, CPU ms). The
    client sends back the version of what it shows (the poll's hx-vals / header), as htmx
    does with the element's attribute."""
    from django.urls import reverse

    from lbadmin.redis_client import get_redis
    from monitoring.live_poller import SNAPSHOT_KEY

    url = reverse("control_live") + "?interval=2"
    htmx = {"HTTP_HX_REQUEST": "true", "secure": True}
    fresh = lambda: refresh_snapshot(director)  # noqa: E731
    results = [("first answer (the whole panel)", *_wall_bytes_cpu(measure(client, url, htmx, runs, fresh)))]
    fresh()
    first = client.get(url, **htmx)
    version = first.headers.get("X-Live-Version", "")
    if not version:
        results.append(("no version sent by the server: every poll is the whole panel", float("nan"), 0, float("nan")))
        return results
    polled = {**htmx, "HTTP_X_LIVE_VERSION": version}
    results.append(("poll, the same reading", *_wall_bytes_cpu(measure(client, url, polled, runs))))
    results.append(("poll, a new reading, nothing changed", *_polls(client, url, polled, runs, fresh)))
    redis = get_redis()
    snapshot = json.loads(redis.get(SNAPSHOT_KEY.format(director.pk)))

    def one_changed():
        # One real server of a service on the first page: its connections moved.
        service = snapshot["services"][min(5, len(snapshot["services"]) - 1)]
        service["destinations"][-1]["active"] += 1
        snapshot["time"] = time.time()
        redis.set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot), ex=3600)

    results.append(("poll, one real server changed", *_polls(client, url, polled, runs, one_changed)))
    return results


def _wall_bytes_cpu(figures: tuple) -> tuple[float, int, float]:
    return figures[0], figures[1], figures[4]


def _polls(client, url: str, polled: dict, runs: int, change) -> tuple[float, int, float]:
    """Polls after `change()`, each sending the version the previous answer gave."""
    times, cpu, size = [], [], 0
    for _ in range(runs):
        change()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, **polled)
        times.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - started_cpu))
        size = len(response.content)
        polled["HTTP_X_LIVE_VERSION"] = response.headers.get("X-Live-Version", polled["HTTP_X_LIVE_VERSION"])
    return statistics.median(times), size, statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="at least 1 (default 1000)")
    parser.add_argument("--reals", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5, help="requests per page; the median is shown")
    parser.add_argument("--live-only", action="store_true", help="only the live table's polls")
    parser.add_argument("--profile", metavar="PAGE", help="cProfile one page (a name from the list, or a URL)")
    args = parser.parse_args()
    if args.services < 1 or args.reals < 1 or args.runs < 1:
        parser.error("--services, --reals and --runs must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="lbadmin-bench-pages-"))
    redis_url, stop_redis = start_redis()
    try:
        setup_django(work, redis_url)
        from django.test import Client

        started = time.perf_counter()
        director, admin = build_data(args.services, args.reals)
        write_live_state(director)
        print(f"data: {args.services} virtual servers x {args.reals} real servers, live snapshot and "
              f"{HISTORY_POINTS}-point history in Redis ({time.perf_counter() - started:.1f} s to build)")
        client = Client()
        client.force_login(admin)
        listed = pages(director)
        if args.profile:
            url, headers = next(((u, h) for n, u, h in listed if n.strip() == args.profile), (args.profile, {}))
            refresh_snapshot(director)
            client.get(url, **headers)
            profiler = cProfile.Profile()
            profiler.enable()
            client.get(url, **headers)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            return
        print(f"{'page':<32} {'ms':>8} {'CPU ms':>8} {'bytes':>10} {'queries':>8} status")
        figures = []
        fresh = lambda: refresh_snapshot(director)  # noqa: E731  (a current reading for every request)
        for name, url, headers in ([] if args.live_only else listed):
            fresh()
            client.get(url, **headers)  # warm: templates compiled, first-use imports
            ms, size, queries, status, cpu = measure(client, url, headers, args.runs, fresh)
            figures.append((name.strip(), ms, cpu))
            print(f"{name:<32} {ms:>8.1f} {cpu:>8.1f} {size:>10,} {queries:>8} {status}")
        print()
        for what, ms, size, cpu in live_polls(client, director, args.runs):
            print(f"live poll: {what:<40} {ms:>8.1f} ms {cpu:>8.1f} CPU ms {size:>10,} bytes")
        if not figures:
            return
        over = [f for f in figures if f[2] > LIMIT_MS]
        slowest = max(figures, key=lambda f: f[2])
        over_wall = [f for f in figures if f[1] > LIMIT_MS]
        slowest_wall = max(figures, key=lambda f: f[1])
        print(f"pages: {len(figures)} pages, slowest {slowest[0]} {slowest[2]:.0f} ms, {len(over)} over {LIMIT_MS:.0f} ms "
              f"(server CPU; wall clock on this machine: slowest {slowest_wall[0]} {slowest_wall[1]:.0f} ms, "
              f"{len(over_wall)} over)")
    finally:
        stop_redis()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
