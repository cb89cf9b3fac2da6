"""History of connections and traffic: the shape of what is kept, and its arithmetic.
No Django here (monitoring.history does the reading and writing), so the bound and the
downsampling are tested alone.

What one series holds (a series: one virtual server or one real server):
- FINE: a slot every 10 s, kept 26 h (24 h shown, 2 h so a day can still be downsampled
  after it ends), in chunks of 5 minutes (30 slots). A chunk is written once, when it is
  complete, from the Redis buffer the 10-s sampler fills: one insert per series per 5 min,
  never a read-modify-write, and never one row per sample.
- COARSE: a slot every 5 min, kept 30 days, in chunks of one UTC day (288 slots), built
  once from the day's FINE chunks after the day ends. Each slot holds the average and the
  maximum of the 10-s values in it, so a peak survives the downsampling.

A slot holds FIELDS as 32-bit floats; NaN where there was no reading (the poller stopped,
the director was unreachable): a gap is kept as a gap, never filled in. Floats hold every
count a kernel reaches exactly up to 16 million, and rates to 7 digits, enough for a graph.

The bound, raw (a chunk is stored zlib-compressed when that is smaller, with one byte
saying which, so the stored size never exceeds raw + 1; idle series compress to almost
nothing):
- FINE: 30 slots x 5 fields x 4 bytes = 600 bytes a chunk; at most 26 h x 12 + 1 = 313
  chunks = 187,800 bytes;
- COARSE: 288 slots x 10 columns x 4 bytes = 11,520 bytes a chunk; at most 31 chunks (30
  days and the one being pruned) = 357,120 bytes;
- per series at most 544,920 bytes (+ 1 byte a chunk and the database's row overhead);
  for 1,000 virtual servers of 8 real servers (9,000 series) at most 4.9 GB, raw.
The Redis buffer holds at most the current and the previous 5 minutes in normal running
(about 10 MB for 9,000 series: bench/bench_history.py); a buffer nobody writes out
expires after BUFFER_TTL.
"""
from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Sequence

# What one sample records, per series. Connections are the kernel's ActiveConn/InActConn
# (over directors: the largest, since connection sync mirrors them on the backup); rates
# are the kernel's --rate estimator (over directors: the sum, traffic passes one at a time).
FIELDS = ("active", "inactive", "cps", "inbps", "outbps")
NAN = float("nan")

FINE_STEP = 10
FINE_SLOTS = 30  # a chunk of 5 minutes
FINE_CHUNK = FINE_STEP * FINE_SLOTS
FINE_KEEP = 26 * 3600

COARSE_STEP = 300
COARSE_SLOTS = 288  # a chunk of one UTC day
COARSE_CHUNK = COARSE_STEP * COARSE_SLOTS
COARSE_KEEP_DAYS = 30
# A COARSE slot: the average of each field, then the maximum of each.
COARSE_COLUMNS = tuple(FIELDS) + tuple(f"max_{name}" for name in FIELDS)

BUFFER_TTL = 2 * 3600

FLOAT = 4
FINE_CHUNK_BYTES = FINE_SLOTS * len(FIELDS) * FLOAT
COARSE_CHUNK_BYTES = COARSE_SLOTS * len(COARSE_COLUMNS) * FLOAT
FINE_MAX_CHUNKS = FINE_KEEP // FINE_CHUNK + 1
COARSE_MAX_CHUNKS = COARSE_KEEP_DAYS + 1
SERIES_MAX_BYTES = FINE_MAX_CHUNKS * FINE_CHUNK_BYTES + COARSE_MAX_CHUNKS * COARSE_CHUNK_BYTES

_RAW, _ZLIB = b"r", b"z"


def chunk_start(t: float, chunk: int) -> int:
    return int(t // chunk) * chunk


def encode(columns: dict[str, Sequence[float]], names: Sequence[str]) -> bytes:
    """A chunk's columns (equal lengths, NaN for no data) as stored: slot after slot."""
    width = len(names)
    flat = array("f", bytes(FLOAT * width * len(columns[names[0]])))
    for i, name in enumerate(names):
        flat[i::width] = array("f", columns[name])
    raw = _to_bytes(flat)
    packed = zlib.compress(raw, 6)
    return _ZLIB + packed if len(packed) < len(raw) else _RAW + raw


def decode(data: bytes, names: Sequence[str]) -> dict[str, list[float]]:
    data = bytes(data)
    raw = zlib.decompress(data[1:]) if data[:1] == _ZLIB else data[1:]
    flat = _from_bytes(raw)
    width = len(names)
    return {name: list(flat[i::width]) for i, name in enumerate(names)}


def _to_bytes(values: array) -> bytes:
    if sys.byteorder != "little":  # stored little-endian whatever the machine
        values = array("f", values)
        values.byteswap()
    return values.tobytes()


def _from_bytes(raw: bytes) -> array:
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def bucket_avg(values: Sequence[float], factor: int) -> list[float]:
    """Averages of `factor` consecutive values, over those present; NaN for a bucket
    without any (a gap stays a gap, a partly read bucket is the average of its readings)."""
    out = []
    for i in range(0, len(values), factor):
        present = [v for v in values[i:i + factor] if v == v]  # NaN is the one value unequal to itself
        out.append(sum(present) / len(present) if present else NAN)
    return out


def bucket_max(values: Sequence[float], factor: int) -> list[float]:
    out = []
    for i in range(0, len(values), factor):
        present = [v for v in values[i:i + factor] if v == v]
        out.append(max(present) if present else NAN)
    return out


def downsample_fine(fine: dict[str, Sequence[float]]) -> dict[str, list[float]]:
    """10-s columns (a multiple of 30 slots) to 5-min COARSE columns: average and maximum."""
    factor = COARSE_STEP // FINE_STEP
    coarse = {name: bucket_avg(fine[name], factor) for name in FIELDS}
    coarse.update({f"max_{name}": bucket_max(fine[name], factor) for name in FIELDS})
    return coarse


def empty(slots: int, names: Sequence[str]) -> dict[str, list[float]]:
    return {name: [NAN] * slots for name in names}
