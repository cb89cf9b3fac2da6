"""History of connections and traffic per virtual and real server: sampled, kept, read.

- sample(): beat, every 10 s. Reads the live snapshots the poller keeps in Redis
  (monitoring.live_poller; never a director) and adds one slot per series to the Redis
  buffer of the current 5 minutes: one HSET of all series, whatever their number.
- keep(): beat, every minute. Writes each complete 5-minute buffer to the database (one row
  per series, insert only), builds a finished day's 5-minute chunks from its 10-s ones,
  and prunes what is older than monitoring.history_store keeps. The database holds all but
  the last minutes, so the history survives a restart; the buffer (in Redis, which
  survives the product's restarts too) expires if nobody writes it out.
- read(): the pages. The database's chunks and the buffer's current minutes, on one grid,
  with NaN where there was no reading.

What a sample says: a snapshot older than two polls, or of a director that could not be
read, gives no numbers. While at least one current snapshot exists, every configured server
gets a slot (0 when the kernel holds no service or destination for it: it had no
connections); with none, nothing is written, and the graphs show a gap, never old numbers.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass

from lbadmin.models import Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage
from virtualservers import ipvs
from virtualservers.desired import service_key
from virtualservers.models import RealServer, VirtualServer

from .history_store import (BUFFER_TTL, COARSE_CHUNK, COARSE_COLUMNS, COARSE_KEEP_DAYS, COARSE_STEP, FIELDS,
                            FINE_CHUNK, FINE_KEEP, FINE_SLOTS, FINE_STEP, bucket_avg, bucket_max, chunk_start,
                            decode, downsample_fine, empty, encode, pack_sample, unpack_sample)
from .live_poller import SNAPSHOT_KEY
from .live_table import STALE_POLLS, poll_interval
from .models import HistoryChunk

BUFFER_KEY = "lbadmin:history:buffer:{}"  # a hash per 5 minutes: "<series>@<slot>" -> the slot's FIELDS
PENDING_KEY = "lbadmin:history:pending"  # sorted set of the buffers not yet written out
DOWNSAMPLED_KEY = "lbadmin:history:downsampled:{}"  # a day whose 5-minute chunks are built
# A buffer is written out this long after its 5 minutes end (the last sample may be late).
FLUSH_GRACE = 20
# A day is downsampled this long after it ends (its last buffer is written out by then).
DOWNSAMPLE_DELAY = 600

VIRTUAL, REAL = HistoryChunk.Kind.VIRTUAL, HistoryChunk.Kind.REAL


def series_name(kind: str, pk: int) -> str:
    return f"{kind}{pk}"


# Sampling ------------------------------------------------------------------------------

def fresh_snapshots(now: float) -> list[dict]:
    """The current, successful snapshot of every enabled director (one Redis round trip)."""
    keys = [SNAPSHOT_KEY.format(pk) for pk in Director.objects.filter(enabled=True).values_list("pk", flat=True)]
    if not keys:
        return []
    limit = STALE_POLLS * poll_interval()
    snapshots = []
    for raw in get_redis().mget(keys):
        snapshot = json.loads(raw) if raw else None
        if snapshot and snapshot.get("ok") and now - float(snapshot.get("time", 0)) <= limit:
            snapshots.append(snapshot)
    return snapshots


def series_keys() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Which series a kernel row feeds: {service key: "v<pk>"} and
    {(service key, address): "r<pk>"} (a real server is its address in its service)."""
    services = {vs.pk: str(service_key(vs)) for vs in VirtualServer.objects.only(
        "pk", "protocol", "address", "port", "fwmark")}
    dests = {}
    for pk, vs_pk, address in RealServer.objects.values_list("pk", "virtual_server_id", "address"):
        try:
            dests[(services[vs_pk], ipvs.normalize_address(address)[0])] = series_name(REAL, pk)
        except (KeyError, ValueError):
            continue
    return {key: series_name(VIRTUAL, pk) for pk, key in services.items()}, dests


def _combine(into: list[float], reading: tuple[float, ...]) -> None:
    # Connections: the largest over directors (connection sync mirrors them on the backup);
    # rates: the sum (traffic passes one director, both during a failover).
    into[0], into[1] = max(into[0], reading[0]), max(into[1], reading[1])
    into[2], into[3], into[4] = into[2] + reading[2], into[3] + reading[3], into[4] + reading[4]


def sample_values(snapshots: list[dict], services: dict[str, str],
                  dests: dict[tuple[str, str], str]) -> dict[str, list[float]]:
    """FIELDS per series from the snapshots; {} when there is no current snapshot."""
    if not snapshots:
        return {}
    values = {series: [0.0] * len(FIELDS) for series in itertools.chain(services.values(), dests.values())}
    for snapshot in snapshots:
        for service in snapshot.get("services", []):
            readings = []
            for d in service["destinations"]:
                reading = (d["active"], d["inactive"], d["cps"], d["inbps"], d["outbps"])
                readings.append(reading)
                rs = dests.get((service["key"], d["address"]))
                if rs is not None:
                    _combine(values[rs], reading)
            vs = services.get(service["key"])
            if vs is not None:
                summed = [sum(column) for column in zip(*readings)] or [0] * len(FIELDS)
                # The service's own rates count traffic to destinations since removed too.
                _combine(values[vs], (summed[0], summed[1], service.get("cps", summed[2]),
                                      service.get("inbps", summed[3]), service.get("outbps", summed[4])))
    return values


def sample(now: float | None = None) -> int:
    """One 10-s slot of every series into the Redis buffer; how many series were written."""
    now = time.time() if now is None else now
    values = sample_values(fresh_snapshots(now), *series_keys())
    if not values:
        return 0
    start = chunk_start(now, FINE_CHUNK)
    slot = int((now - start) // FINE_STEP)
    key = BUFFER_KEY.format(start)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(key, mapping={f"{series}@{slot}": pack_sample(v) for series, v in values.items()})
    pipe.expire(key, BUFFER_TTL)
    pipe.zadd(PENDING_KEY, {str(start): start})
    pipe.execute()
    return len(values)


# Keeping -------------------------------------------------------------------------------

def _buffer_columns(fields: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    per_series: dict[str, dict[str, list[float]]] = {}
    for name, text in fields.items():
        series, slot = name.rsplit("@", 1)
        columns = per_series.setdefault(series, empty(FINE_SLOTS, FIELDS))
        for field, value in zip(FIELDS, unpack_sample(text)):
            columns[field][int(slot)] = value
    return per_series


def flush(now: float) -> int:
    """Write every complete 5-minute buffer to the database; rows written."""
    redis = get_redis()
    written = 0
    for start in redis.zrangebyscore(PENDING_KEY, "-inf", now - FINE_CHUNK - FLUSH_GRACE):
        key = BUFFER_KEY.format(start)
        rows = [HistoryChunk(kind=series[0], object_id=int(series[1:]), step=FINE_STEP, start=int(start),
                             data=encode(columns, FIELDS))
                for series, columns in _buffer_columns(redis.hgetall(key)).items()]
        # ignore_conflicts: a flush repeated after a crash between insert and delete writes nothing twice.
        HistoryChunk.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        redis.pipeline(transaction=False).delete(key).zrem(PENDING_KEY, start).execute()
        written += len(rows)
    return written


def downsample(now: float) -> int:
    """Build the 5-minute chunks of every finished day still held at 10 s; rows written."""
    ready = chunk_start(now - DOWNSAMPLE_DELAY, COARSE_CHUNK)
    starts = HistoryChunk.objects.filter(step=FINE_STEP, start__lt=ready).values_list("start", flat=True).distinct()
    redis = get_redis()
    written = 0
    for day in sorted({chunk_start(s, COARSE_CHUNK) for s in starts}):
        if redis.exists(DOWNSAMPLED_KEY.format(day)):
            continue
        written += _downsample_day(day)
        _prune_deleted_servers()
        redis.set(DOWNSAMPLED_KEY.format(day), "1", ex=3 * COARSE_CHUNK)
    return written


def _downsample_day(day: int) -> int:
    done = set(HistoryChunk.objects.filter(step=COARSE_STEP, start=day).values_list("kind", "object_id"))
    rows = (HistoryChunk.objects.filter(step=FINE_STEP, start__gte=day, start__lt=day + COARSE_CHUNK)
            .order_by("kind", "object_id", "start").values_list("kind", "object_id", "start", "data"))
    batch, written = [], 0
    for (kind, pk), chunks in itertools.groupby(rows.iterator(chunk_size=2000), key=lambda r: (r[0], r[1])):
        if (kind, pk) in done:
            continue
        fine = empty(COARSE_CHUNK // FINE_STEP, FIELDS)
        for _, _, start, data in chunks:
            _place(fine, (start - day) // FINE_STEP, decode(data, FIELDS))
        batch.append(HistoryChunk(kind=kind, object_id=pk, step=COARSE_STEP, start=day,
                                  data=encode(downsample_fine(fine), COARSE_COLUMNS)))
        if len(batch) >= 500:
            written += len(HistoryChunk.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    written += len(HistoryChunk.objects.bulk_create(batch, ignore_conflicts=True))
    return written


def _place(grid: dict[str, list[float]], offset: int, columns: dict[str, list[float]]) -> None:
    """Copy columns into grid from slot `offset`, clipped to the grid."""
    for name, values in columns.items():
        target = grid.get(name)
        if target is None:
            continue
        for i, value in enumerate(values):
            if 0 <= offset + i < len(target) and not math.isnan(value):
                target[offset + i] = value


def prune(now: float) -> int:
    """Delete what is older than kept: 10 s after FINE_KEEP, 5 minutes after 30 whole days."""
    old = HistoryChunk.objects.filter(step=FINE_STEP, start__lt=now - FINE_KEEP).delete()[0]
    oldest_day = chunk_start(now, COARSE_CHUNK) - COARSE_KEEP_DAYS * COARSE_CHUNK
    return old + HistoryChunk.objects.filter(step=COARSE_STEP, start__lt=oldest_day).delete()[0]


def _prune_deleted_servers() -> None:
    # Once a day (with the downsampling): a deleted server's history goes within a day.
    HistoryChunk.objects.filter(kind=VIRTUAL).exclude(object_id__in=VirtualServer.objects.values("pk")).delete()
    HistoryChunk.objects.filter(kind=REAL).exclude(object_id__in=RealServer.objects.values("pk")).delete()


def keep(now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    return {"flushed": flush(now), "downsampled": downsample(now), "pruned": prune(now)}


# Reading -------------------------------------------------------------------------------

@dataclass
class Grid:
    """A series on a regular grid: slot i covers [start + i*step, start + (i+1)*step)."""
    start: int
    step: int
    columns: dict[str, list[float]]
    error: str = ""  # why a part is missing (Redis unreachable: the last minutes)

    def last_reading(self) -> float | None:
        """The end of the latest slot with a reading, or None."""
        slots = len(self.columns[FIELDS[0]])
        for i in range(slots - 1, -1, -1):
            if any(not math.isnan(self.columns[name][i]) for name in FIELDS):
                return self.start + (i + 1) * self.step
        return None


def read_fine(kind: str, pk: int, start: int, end: int) -> Grid:
    """10-s slots over [start, end) (aligned down to 10 s): the database, then the buffer."""
    start, end = chunk_start(start, FINE_STEP), chunk_start(end - 1, FINE_STEP) + FINE_STEP
    grid = Grid(start, FINE_STEP, empty((end - start) // FINE_STEP, FIELDS))
    for chunk, data in HistoryChunk.objects.filter(kind=kind, object_id=pk, step=FINE_STEP,
                                                   start__gte=chunk_start(start, FINE_CHUNK), start__lt=end
                                                   ).values_list("start", "data"):
        _place(grid.columns, (chunk - start) // FINE_STEP, decode(data, FIELDS))
    outage = redis_outage()
    if outage is not None:  # known down: no wait on it, the database's part is still worth showing
        grid.error = f"the last minutes are missing: {outage.words}"
        return grid
    try:
        redis = get_redis()
        series = series_name(kind, pk)
        names = [f"{series}@{slot}" for slot in range(FINE_SLOTS)]
        pending = redis.zrangebyscore(PENDING_KEY, chunk_start(start, FINE_CHUNK), end)
        pipe = redis.pipeline(transaction=False)
        for chunk in pending:
            pipe.hmget(BUFFER_KEY.format(chunk), names)
        for chunk, texts in zip(pending, pipe.execute()):
            columns = _buffer_columns({name: text for name, text in zip(names, texts) if text}).get(series)
            if columns:
                _place(grid.columns, (int(chunk) - start) // FINE_STEP, columns)
    except Exception as exc:
        note_failure(exc)
        grid.error = f"the last minutes are missing: Redis unreachable ({type(exc).__name__})"
    return grid


def read_coarse(kind: str, pk: int, start: int, end: int, now: float) -> Grid:
    """5-minute slots over [start, end): the days built, then the 10-s data not yet built."""
    start, end = chunk_start(start, COARSE_STEP), chunk_start(end - 1, COARSE_STEP) + COARSE_STEP
    grid = Grid(start, COARSE_STEP, empty((end - start) // COARSE_STEP, COARSE_COLUMNS))
    built_until = start
    for day, data in HistoryChunk.objects.filter(kind=kind, object_id=pk, step=COARSE_STEP,
                                                 start__gte=chunk_start(start, COARSE_CHUNK), start__lt=end
                                                 ).order_by("start").values_list("start", "data"):
        _place(grid.columns, (day - start) // COARSE_STEP, decode(data, COARSE_COLUMNS))
        built_until = max(built_until, day + COARSE_CHUNK)
    fine_from = max(built_until, chunk_start(now - FINE_KEEP, COARSE_STEP))
    if fine_from < end:
        fine = read_fine(kind, pk, fine_from, end)
        grid.error = fine.error
        _place(grid.columns, (fine_from - start) // COARSE_STEP, downsample_fine(fine.columns))
    return grid


def on_display_grid(grid: Grid, step: int) -> Grid:
    """The grid in buckets of `step` seconds (a multiple of grid.step): averages, and the
    maxima of the maxima where the grid has them (5-minute data), else of the values."""
    factor = step // grid.step
    columns = {name: bucket_avg(grid.columns[name], factor) for name in FIELDS}
    for name in FIELDS:
        peaks = grid.columns.get(f"max_{name}", grid.columns[name])
        columns[f"max_{name}"] = bucket_max(peaks, factor)
    return Grid(grid.start, step, columns, grid.error)


def last_reading_before(kind: str, pk: int, end: int) -> float | None:
    """When the series last had a reading, looking back past a range without any."""
    for step, names in ((FINE_STEP, FIELDS), (COARSE_STEP, COARSE_COLUMNS)):
        chunk = HistoryChunk.objects.filter(kind=kind, object_id=pk, step=step, start__lt=end).order_by("-start").first()
        if chunk is not None:
            found = Grid(chunk.start, step, decode(chunk.data, names)).last_reading()
            if found is not None:
                return found
    return None

