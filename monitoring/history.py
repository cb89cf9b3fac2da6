"""History of connections and traffic per virtual and real server: sampled, kept, read.

- sample(): beat, every 10 s. Reads the live snapshots the poller keeps in Redis
  (monitoring.live_poller; never a director) and adds one slot per series to the Redis
  buffer of the current 5 minutes: one HSET, a field per virtual server holding its own and
  its real servers' numbers, so a page reads one field a slot, and writing out 5 minutes
  parses one small JSON per virtual server and slot rather than one Redis field per series.
- keep(): beat, every minute. Writes each complete 5-minute buffer to the database (one row
  per series, insert only), builds a finished day's 5-minute chunks from its 10-s ones,
  and prunes what is older than monitoring.history_store keeps. The database holds all but
  the last minutes, so the history survives a restart; the buffer (in Redis, which
  survives the product's restarts too) expires if nobody writes it out.
- read_fine(), read_coarse(): the pages. The database's chunks and the buffer's current
  minutes, on one grid, with NaN where there was no reading.

What a sample says: a snapshot older than a slot (10 s), or of a director that could not
be read, gives no numbers. While at least one current snapshot exists, every configured server
gets a slot (0 when the kernel holds no service or destination for it: it had no
connections); with none, nothing is written, and the graphs show a gap, never old numbers.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import Count, Max, Min

from lbadmin.models import AuditEntry, Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage
from virtualservers import ipvs
from virtualservers.desired import service_key
from virtualservers.models import RealServer, VirtualServer

from .history_store import (BUFFER_TTL, COARSE_CHUNK, COARSE_COLUMNS, COARSE_KEEP_DAYS, COARSE_STEP, FIELDS,
                            FINE_CHUNK, FINE_KEEP, FINE_SLOTS, FINE_STEP, NAN, bucket_avg, bucket_max, chunk_start,
                            decode, downsample_fine, empty, encode)
from .live_poller import SNAPSHOT_KEY, parse_snapshot
from .live_table import STALE_POLLS, poll_interval
from .models import HistoryChunk

# A hash per 5 minutes: "<virtual server pk>@<slot>" -> JSON {series: FIELDS} of it and its real servers.
BUFFER_KEY = "lbadmin:history:buffer:{}"
PENDING_KEY = "lbadmin:history:pending"  # sorted set of the buffers not yet written out
DOWNSAMPLED_KEY = "lbadmin:history:downsampled:{}"  # a day's progress: series done, or "done"
# A buffer is written out this long after its 5 minutes end (the last sample may be late).
FLUSH_GRACE = 20
# A day is downsampled this long after it ends (its last buffer is written out by then).
DOWNSAMPLE_DELAY = 600
DOWNSAMPLE_BATCH = 200  # series a run of keep(): a few seconds, so a worker is never held long

VIRTUAL, REAL = HistoryChunk.Kind.VIRTUAL, HistoryChunk.Kind.REAL


class SeriesRef(NamedTuple):
    """One series: a virtual server ("v") or a real server ("r"), and the virtual server
    whose buffer field holds it. A tuple: the sampler hashes 18,000 of them every 10 s."""
    kind: str
    pk: int
    group: int

    @property
    def name(self) -> str:
        return f"{self.kind}{self.pk}"

    @classmethod
    def of_virtual(cls, vs: VirtualServer) -> SeriesRef:
        return cls(VIRTUAL, vs.pk, vs.pk)

    @classmethod
    def of_real(cls, rs: RealServer) -> SeriesRef:
        return cls(REAL, rs.pk, rs.virtual_server_id)


# Sampling ------------------------------------------------------------------------------

def fresh_snapshots(now: float) -> list[dict]:
    """The current, successful snapshot of every enabled director (one Redis round trip).
    Current: read within the slot's 10 s (or two polls, if polls are rarer). Not the live
    table's two polls: a busy worker skips polls (they expire), and a reading 6 s old still
    tells the slot's numbers; an older one would tell an earlier slot's."""
    keys = [SNAPSHOT_KEY.format(pk) for pk in Director.objects.filter(enabled=True).values_list("pk", flat=True)]
    if not keys:
        return []
    limit = max(FINE_STEP, STALE_POLLS * poll_interval())
    snapshots = []
    for raw in get_redis().mget(keys):
        snapshot = parse_snapshot(raw) if raw else None
        if snapshot and snapshot.get("ok") and now - float(snapshot.get("time", 0)) <= limit:
            snapshots.append(snapshot)
    return snapshots


@dataclass(frozen=True)
class Mapping:
    """Which series a kernel row feeds: services {service key: ref}, dests {(service key,
    address): ref} (a real server is its address in its service)."""
    services: dict[str, SeriesRef]
    dests: dict[tuple[str, str], SeriesRef]


_mapping: tuple[tuple, float, Mapping] | None = None
MAPPING_MAX_AGE = 300.0


def _configuration_fingerprint() -> tuple:
    """Changes whenever a server is added, removed or edited: every edit is audited."""
    vs = VirtualServer.objects.aggregate(n=Count("pk"), top=Max("pk"), changed=Max("updated_at"))
    rs = RealServer.objects.aggregate(n=Count("pk"), top=Max("pk"))
    return tuple(vs.values()) + tuple(rs.values()) + (AuditEntry.objects.aggregate(top=Max("pk"))["top"],)


def series_keys() -> Mapping:
    """The mapping, rebuilt when the configuration changed (or every 5 minutes): building
    it parses every real server's address (150 ms at 8,000), the fingerprint costs 1 ms."""
    global _mapping
    fingerprint = _configuration_fingerprint()
    if _mapping is not None and _mapping[0] == fingerprint and time.monotonic() - _mapping[1] < MAPPING_MAX_AGE:
        return _mapping[2]
    keys = {vs.pk: str(service_key(vs)) for vs in VirtualServer.objects.only("pk", "protocol", "address", "port", "fwmark")}
    dests = {}
    for pk, vs_pk, address in RealServer.objects.values_list("pk", "virtual_server_id", "address"):
        try:
            dests[(keys[vs_pk], ipvs.normalize_address(address)[0])] = SeriesRef(REAL, pk, vs_pk)
        except (KeyError, ValueError):
            continue
    mapping = Mapping({key: SeriesRef(VIRTUAL, pk, pk) for pk, key in keys.items()}, dests)
    _mapping = (fingerprint, time.monotonic(), mapping)
    return mapping


def _combine(into: list[float], reading: tuple[float, ...]) -> None:
    # Connections: the largest over directors (connection sync mirrors them on the backup);
    # rates: the sum (traffic passes one director, both during a failover).
    into[0], into[1] = max(into[0], reading[0]), max(into[1], reading[1])
    into[2], into[3], into[4] = into[2] + reading[2], into[3] + reading[3], into[4] + reading[4]


def sample_values(snapshots: list[dict], mapping: Mapping) -> dict[SeriesRef, list[float]]:
    """FIELDS per series from the snapshots; {} when there is no current snapshot."""
    if not snapshots:
        return {}
    values = {ref: [0.0] * len(FIELDS) for ref in itertools.chain(mapping.services.values(), mapping.dests.values())}
    for snapshot in snapshots:
        for service in snapshot.get("services", []):
            readings = []
            for d in service["destinations"]:
                reading = (d["active"], d["inactive"], d["cps"], d["inbps"], d["outbps"])
                readings.append(reading)
                rs = mapping.dests.get((service["key"], d["address"]))
                if rs is not None:
                    _combine(values[rs], reading)
            vs = mapping.services.get(service["key"])
            if vs is not None:
                summed = [sum(column) for column in zip(*readings)] or [0] * len(FIELDS)
                # The service's own rates count traffic to destinations since removed too.
                _combine(values[vs], (summed[0], summed[1], service.get("cps", summed[2]),
                                      service.get("inbps", summed[3]), service.get("outbps", summed[4])))
    return values


def sample(now: float | None = None) -> int:
    """One 10-s slot of every series into the Redis buffer; how many series were written."""
    now = time.time() if now is None else now
    values = sample_values(fresh_snapshots(now), series_keys())
    if not values:
        return 0
    start = chunk_start(now, FINE_CHUNK)
    slot = int((now - start) // FINE_STEP)
    groups: dict[int, dict[str, list[float]]] = {}
    for ref, numbers in values.items():
        groups.setdefault(ref.group, {})[ref.name] = numbers
    key = BUFFER_KEY.format(start)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(key, mapping={f"{group}@{slot}": json.dumps(members, separators=(",", ":"))
                            for group, members in groups.items()})
    pipe.expire(key, BUFFER_TTL)
    pipe.zadd(PENDING_KEY, {str(start): start})
    pipe.execute()
    return len(values)


# Keeping -------------------------------------------------------------------------------

def _buffer_columns(fields: dict[str, str], only: str | None = None) -> dict[str, dict[str, list[float]]]:
    """The buffer's fields ("<group>@<slot>": JSON of its series) as columns per series."""
    slots: dict[str, list] = {}
    for name, text in fields.items():
        slot = int(name.rsplit("@", 1)[1])
        for series, numbers in json.loads(text).items():
            if only is not None and series != only:
                continue
            if series not in slots:
                slots[series] = [None] * FINE_SLOTS
            slots[series][slot] = numbers
    return {series: {field: [NAN if numbers is None else numbers[i] for numbers in rows] for i, field in enumerate(FIELDS)}
            for series, rows in slots.items()}


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
    """Build the 5-minute chunks of a finished day still held at 10 s, DOWNSAMPLE_BATCH
    series a run (the day of 9,000 series over a few runs, none of them long); rows written."""
    ready = chunk_start(now - DOWNSAMPLE_DELAY, COARSE_CHUNK)
    oldest = HistoryChunk.objects.filter(step=FINE_STEP).aggregate(oldest=Min("start"))["oldest"]
    if oldest is None:
        return 0
    redis = get_redis()
    for day in range(chunk_start(oldest, COARSE_CHUNK), ready, COARSE_CHUNK):
        key = DOWNSAMPLED_KEY.format(day)
        progress = redis.get(key)
        if progress == "done":
            continue
        refs = all_series()
        position = int(progress or 0)
        batch = refs[position:position + DOWNSAMPLE_BATCH]
        written = _downsample_day(day, batch)
        position += len(batch)
        if position >= len(refs):
            _prune_deleted_servers()
        redis.set(key, "done" if position >= len(refs) else str(position), ex=3 * COARSE_CHUNK)
        return written
    return 0


def all_series() -> list[tuple[str, int]]:
    """Every configured server's (kind, pk), in a stable order."""
    return ([(VIRTUAL, pk) for pk in VirtualServer.objects.order_by("pk").values_list("pk", flat=True)]
            + [(REAL, pk) for pk in RealServer.objects.order_by("pk").values_list("pk", flat=True)])


def _downsample_day(day: int, refs: list[tuple[str, int]]) -> int:
    written = 0
    for kind, group in itertools.groupby(refs, key=lambda ref: ref[0]):
        pks = [pk for _, pk in group]
        done = set(HistoryChunk.objects.filter(kind=kind, object_id__in=pks, step=COARSE_STEP, start=day)
                   .values_list("object_id", flat=True))
        rows = (HistoryChunk.objects.filter(kind=kind, object_id__in=[pk for pk in pks if pk not in done],
                                            step=FINE_STEP, start__gte=day, start__lt=day + COARSE_CHUNK)
                .order_by("object_id", "start").values_list("object_id", "start", "data"))
        built = []
        for pk, chunks in itertools.groupby(rows.iterator(chunk_size=2000), key=lambda row: row[0]):
            fine = empty(COARSE_CHUNK // FINE_STEP, FIELDS)
            for _, start, data in chunks:
                _place(fine, (start - day) // FINE_STEP, decode(data, FIELDS))
            built.append(HistoryChunk(kind=kind, object_id=pk, step=COARSE_STEP, start=day,
                                      data=encode(downsample_fine(fine), COARSE_COLUMNS)))
        written += len(HistoryChunk.objects.bulk_create(built, batch_size=500, ignore_conflicts=True))
    return written


def _place(grid: dict[str, list[float]], offset: int, columns: dict[str, list[float]]) -> None:
    """Copy columns into grid from slot `offset`, clipped to the grid (the pieces placed
    never overlap but for a buffer already written out: the same numbers)."""
    for name, values in columns.items():
        target = grid.get(name)
        low, high = max(0, offset), min(len(target or ()), offset + len(values))
        if target is not None and low < high:
            target[low:high] = values[low - offset:high - offset]


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


def read_fine(ref: SeriesRef, start: int, end: int) -> Grid:
    """10-s slots over [start, end) (aligned down to 10 s): the database, then the buffer."""
    start, end = chunk_start(start, FINE_STEP), chunk_start(end - 1, FINE_STEP) + FINE_STEP
    grid = Grid(start, FINE_STEP, empty((end - start) // FINE_STEP, FIELDS))
    for chunk, data in HistoryChunk.objects.filter(kind=ref.kind, object_id=ref.pk, step=FINE_STEP,
                                                   start__gte=chunk_start(start, FINE_CHUNK), start__lt=end
                                                   ).values_list("start", "data"):
        _place(grid.columns, (chunk - start) // FINE_STEP, decode(data, FIELDS))
    outage = redis_outage()
    if outage is not None:  # known down: no wait on it, the database's part is still worth showing
        grid.error = f"the last minutes are missing: {outage.words}"
        return grid
    try:
        redis = get_redis()
        names = [f"{ref.group}@{slot}" for slot in range(FINE_SLOTS)]
        pending = redis.zrangebyscore(PENDING_KEY, chunk_start(start, FINE_CHUNK), end)
        pipe = redis.pipeline(transaction=False)
        for chunk in pending:
            pipe.hmget(BUFFER_KEY.format(chunk), names)
        for chunk, texts in zip(pending, pipe.execute()):
            columns = _buffer_columns({name: text for name, text in zip(names, texts) if text}, ref.name).get(ref.name)
            if columns:
                _place(grid.columns, (int(chunk) - start) // FINE_STEP, columns)
    except Exception as exc:
        note_failure(exc)
        grid.error = f"the last minutes are missing: Redis unreachable ({type(exc).__name__})"
    return grid


def read_coarse(ref: SeriesRef, start: int, end: int, now: float) -> Grid:
    """5-minute slots over [start, end): the days built, then the 10-s data not yet built."""
    start, end = chunk_start(start, COARSE_STEP), chunk_start(end - 1, COARSE_STEP) + COARSE_STEP
    grid = Grid(start, COARSE_STEP, empty((end - start) // COARSE_STEP, COARSE_COLUMNS))
    built_until = start
    for day, data in HistoryChunk.objects.filter(kind=ref.kind, object_id=ref.pk, step=COARSE_STEP,
                                                 start__gte=chunk_start(start, COARSE_CHUNK), start__lt=end
                                                 ).order_by("start").values_list("start", "data"):
        _place(grid.columns, (day - start) // COARSE_STEP, decode(data, COARSE_COLUMNS))
        built_until = max(built_until, day + COARSE_CHUNK)
    fine_from = max(built_until, chunk_start(now - FINE_KEEP, COARSE_STEP))
    if fine_from < end:
        fine = read_fine(ref, fine_from, end)
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


def last_reading_before(ref: SeriesRef, end: int) -> float | None:
    """When the series last had a reading, looking back past a range without any."""
    for step, names in ((FINE_STEP, FIELDS), (COARSE_STEP, COARSE_COLUMNS)):
        chunk = HistoryChunk.objects.filter(kind=ref.kind, object_id=ref.pk, step=step, start__lt=end
                                            ).order_by("-start").first()
        if chunk is not None:
            found = Grid(chunk.start, step, decode(chunk.data, names)).last_reading()
            if found is not None:
                return found
    return None

