"""The live table's graphs: each real server's active connections over the last minutes,
from the history the live poller keeps in Redis (a list of points, newest first, each the
counts of every real server of a director).

At 1,000 x 8 that list is 150 points of 8,000 counts, 46 MB of JSON: reading and parsing
it whole took 0.56 s on every poll of every open page. The web process keeps it parsed
instead, one series per real server, and per request reads only the points newer than the
ones it holds (usually one; the newest point's time is read from the first bytes of its
JSON, which the poller writes as {"t": ..., "c": {...}})."""
from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field

from .live_poller import HISTORY_KEY, HISTORY_POINTS

_TIME = re.compile(rb'\{"t": ?([0-9.eE+-]+)')


@dataclass
class Series:
    """The points of one director, oldest first: their times and, per real server id,
    its counts (0 where a point does not name it)."""
    times: deque = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    counts: dict[str, deque] = field(default_factory=dict)
    graphs: dict[str, str] = field(default_factory=dict)  # drawn since the last point: polls reuse them

    def add(self, point: dict) -> None:
        self.graphs.clear()
        n = len(self.times)
        self.times.append(point["t"])
        seen = point["c"]
        for dest, values in self.counts.items():
            values.append(seen.get(dest, 0))
        for dest, count in seen.items():
            if dest not in self.counts:
                values = self.counts[dest] = deque([0] * n, maxlen=HISTORY_POINTS)
                values.append(count)

    def of(self, dest: str) -> list[int]:
        values = self.counts.get(dest)
        return list(values) if values is not None else [0] * len(self.times)

    def graph(self, dest: str, draw) -> str:
        """draw(values) for one real server, once per point added (all viewers share it)."""
        found = self.graphs.get(dest)
        if found is None:
            found = self.graphs[dest] = draw(self.of(dest))
        return found


_cache: dict[int, Series] = {}
_lock = threading.Lock()


def _stamp(raw: bytes | str) -> float | None:
    head = raw[:64].encode() if isinstance(raw, str) else raw[:64]
    found = _TIME.match(head)
    return float(found.group(1)) if found else None


def history(redis, director_pk: int) -> Series:
    """The director's series, brought up to date with at most the new points."""
    key = HISTORY_KEY.format(director_pk)
    with _lock:
        series = _cache.get(director_pk)
        newest = series.times[-1] if series and series.times else None
        first = redis.lindex(key, 0)
        if first is None or (newest is not None and (_stamp(first) or 0) < newest):
            series = newest = None  # emptied or rewritten since: what is held is not its past
        fresh: list[bytes | str] = []
        for index in range(HISTORY_POINTS):
            raw = first if index == 0 else redis.lindex(key, index)
            if raw is None:
                break
            stamp = _stamp(raw)
            if newest is not None and stamp is not None and stamp <= newest:
                break
            fresh.append(raw)
        if series is None or len(fresh) == HISTORY_POINTS or (fresh and newest is None):
            series = Series()  # nothing held, or everything is new: start again
        for raw in reversed(fresh):
            series.add(json.loads(raw))
        _cache[director_pk] = series
        return series
