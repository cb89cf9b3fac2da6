"""The history's costs at the size the design names: 1,000 virtual servers x 8 real servers
(9,000 series). Prints its figures; asserts nothing about time (that is not a test).

    .venv/bin/python bench/bench_history.py

Its own Redis and a fresh SQLite database in a temporary data dir, Django set up in this
process as the worker runs it. Measures: one 10-s sample (what beat asks every 10 s),
writing a complete 5 minutes out to the database, one day's downsampling (per series,
scaled), reading a panel (1 h, 24 h, 30 d), and the bytes stored per chunk.
"""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import start_redis  # noqa: E402

SERVICES, PER_SERVICE = 1000, 8


def setup(data_dir: Path, redis_url: str) -> None:
    env = {**os.environ, "LBADMIN_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env,
                   check=True, timeout=300)
    os.environ.update(LBADMIN_DATA_DIR=str(data_dir), REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="lbadmin.settings")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(function, runs: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    redis_url, stop_redis = start_redis()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        try:
            setup(Path(tmp), redis_url)
            run()
        finally:
            stop_redis()


def build_world():
    from lbadmin.models import Director
    from bench.fake_kernel import Dest, Service
    from virtualservers.models import RealServer, VirtualServer

    vss = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"vs{i}", address=f"10.1.{i // 250}.{i % 250 + 1}", port=80, protocol="tcp",
                      scheduler="wlc", forwarding="direct", active=True) for i in range(SERVICES))
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"rs{j}", address=f"10.2.{j}.{i % 250 + 1}", admin_state="enabled",
                   health="up") for i, vs in enumerate(vss) for j in range(PER_SERVICE))
    director = Director.objects.create(name="lb1", address="127.0.0.1", transport="local")
    rng = random.Random(1)
    kernel = [Service(vs.address, 80, scheduler="wlc", rates=(rng.randint(0, 50), 0, 0, rng.randint(0, 10**6), 0),
                      dests=[Dest(f"10.2.{j}.{i % 250 + 1}", 80, active=rng.randint(0, 300), inactive=rng.randint(0, 900),
                                  rates=(rng.randint(0, 9), 10, 10, rng.randint(0, 10**5), rng.randint(0, 10**6)))
                             for j in range(PER_SERVICE)])
              for i, vs in enumerate(vss)]
    return director, kernel, vss


def poll(director, kernel) -> None:
    from monitoring import live_poller
    from bench.fake_kernel import FakeKernel

    live_poller.executor_for = lambda d: FakeKernel(kernel)
    live_poller.poll_director(director)


def run() -> None:
    from lbadmin.redis_client import get_redis
    from monitoring import history
    from monitoring.history_page import history_context
    from monitoring.history_store import (COARSE_CHUNK, COARSE_COLUMNS, COARSE_STEP, FIELDS, FINE_CHUNK, FINE_SLOTS,
                                          FINE_STEP, SERIES_MAX_BYTES, chunk_start, encode)
    from monitoring.models import HistoryChunk
    from virtualservers.models import RealServer

    director, kernel, vss = build_world()
    series = SERVICES * (PER_SERVICE + 1)
    print(f"history at {SERVICES:,} virtual servers x {PER_SERVICE} real servers: {series:,} series\n")

    # One sample, as beat's task runs it: snapshot read, mapping, one HSET.
    now = chunk_start(time.time(), FINE_CHUNK) + 1.0

    def one_sample(cold: bool) -> float:
        poll(director, kernel)  # a current snapshot, as the poller keeps it (not timed)
        if cold:
            history._mapping = None
        started = time.perf_counter()
        written = history.sample(time.time())
        took = time.perf_counter() - started
        assert written == series, written
        return took

    warm = sorted(one_sample(False) for _ in range(7))
    cold = sorted(one_sample(True) for _ in range(3))
    print(f"one 10-s sample (read the snapshot, map, one HSET of {SERVICES:,} fields for {series:,} series): "
          f"best {ms(warm[0])}, median {ms(warm[3])}; with the mapping rebuilt (a configuration change): "
          f"median {ms(cold[1])}")
    get_redis().flushdb()
    poll(director, kernel)

    # A complete 5 minutes in the buffer (30 samples), written out.
    start = chunk_start(now, FINE_CHUNK)
    for slot in range(FINE_SLOTS):
        poll(director, kernel)  # keep the snapshot current
        history.sample(start + slot * FINE_STEP + 1)
    memory = get_redis().memory_usage(history.BUFFER_KEY.format(start))
    started = time.perf_counter()
    written = history.flush(start + FINE_CHUNK + history.FLUSH_GRACE)  # one run of keep() does this
    flush_time = time.perf_counter() - started
    sizes = [len(d) for d in HistoryChunk.objects.filter(step=FINE_STEP).values_list("data", flat=True)]
    print(f"5 minutes out to the database: {written:,} rows in {ms(flush_time)} "
          f"(Redis held {memory / 1e6:.1f} MB for them)")
    print(f"  a 10-s chunk: {statistics.mean(sizes):.0f} bytes on average with these (constant) numbers, at most "
          f"{max(sizes)}; an idle one {len(encode({n: [0.0] * FINE_SLOTS for n in FIELDS}, FIELDS))}")

    # One day downsampled: 200 series x 288 chunks, scaled to all.
    rng = random.Random(2)
    day = chunk_start(time.time(), COARSE_CHUNK) - 3 * COARSE_CHUNK
    sample_pks = list(RealServer.objects.values_list("pk", flat=True)[:200])
    HistoryChunk.objects.bulk_create(
        (HistoryChunk(kind="r", object_id=pk, step=FINE_STEP, start=day + k * FINE_CHUNK,
                      data=encode({n: [float(rng.randint(0, 500)) for _ in range(FINE_SLOTS)] for n in FIELDS}, FIELDS))
         for pk in sample_pks for k in range(COARSE_CHUNK // FINE_CHUNK)), batch_size=2000)
    noisy = HistoryChunk.objects.filter(step=FINE_STEP, start=day).values_list("data", flat=True)[:50]
    started = time.perf_counter()
    built = history._downsample_day(day, [("r", pk) for pk in sample_pks])
    day_time = time.perf_counter() - started
    coarse = [len(d) for d in HistoryChunk.objects.filter(step=COARSE_STEP).values_list("data", flat=True)]
    print(f"one day downsampled: {built} series in {ms(day_time)}, {ms(day_time / built)} a series, "
          f"so about {day_time / built * series:.0f} s a day for all {series:,}, in runs of "
          f"{history.DOWNSAMPLE_BATCH} series ({day_time / built * history.DOWNSAMPLE_BATCH:.1f} s each), one a minute")
    print(f"  noisy numbers: a 10-s chunk {statistics.mean(len(d) for d in noisy):.0f} bytes, a day's 5-minute chunk "
          f"{statistics.mean(coarse):.0f} bytes (raw {COARSE_SLOTS_BYTES(COARSE_COLUMNS)})")

    # Reading a panel (a real server with a day at 10 s and 30 days at 5 minutes).
    pk = sample_pks[0]
    for d in range(1, 31):
        HistoryChunk.objects.get_or_create(kind="r", object_id=pk, step=COARSE_STEP,
                                           start=chunk_start(time.time(), COARSE_CHUNK) - d * COARSE_CHUNK,
                                           defaults={"data": HistoryChunk.objects.filter(step=COARSE_STEP).first().data})
    rs = RealServer.objects.get(pk=pk)
    for name in ("1h", "24h", "30d"):
        best, median = timed(lambda: history_context(history.SeriesRef.of_real(rs), [rs], name))
        print(f"the panel's data and SVG, {name}: best {ms(best)}, median {ms(median)}")

    print(f"\nbound per series: {SERIES_MAX_BYTES:,} bytes raw; for {series:,} series "
          f"{SERIES_MAX_BYTES * series / 1e9:.2f} GB (stored compressed when smaller, never more than raw + 1 byte a chunk)")


def COARSE_SLOTS_BYTES(columns) -> int:
    from monitoring.history_store import COARSE_SLOTS, FLOAT

    return COARSE_SLOTS * len(columns) * FLOAT


if __name__ == "__main__":
    main()
