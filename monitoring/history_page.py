"""What the history panel of a virtual or real server shows, computed once for the template:
three charts (connections, new connections per second, traffic), the health timeline of its
real servers with each change's reason, the changes as a list, and, when the latest reading
is old, "no data since HH:MM" in place of current numbers.

Ranges: 1 h and 24 h are drawn from the 10-s data (a point every 10 s, every 2 minutes),
7 d and 30 d from the 5-minute data (every 15 minutes, every hour); every point is an
average, and the faint line above it the maximum, so a short peak stays visible."""
from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from virtualservers.models import RealServer

from . import graphs
from .history import Grid, SeriesRef, last_reading_before, on_display_grid, read_coarse, read_fine
from .history_store import FIELDS, FINE_STEP, chunk_start
from .models import HealthEvent


@dataclass(frozen=True)
class Range:
    name: str
    label: str
    seconds: int
    step: int  # seconds a point
    tick: int  # seconds between x labels
    tick_format: str
    refresh: int  # seconds between the panel's refreshes (0: none)


RANGES = {r.name: r for r in (
    Range("1h", "1 h", 3600, 10, 600, "%H:%M", 10),
    Range("24h", "24 h", 86400, 120, 3 * 3600, "%H:%M", 60),
    Range("7d", "7 d", 7 * 86400, 900, 86400, "%a %d", 0),
    Range("30d", "30 d", 30 * 86400, 3600, 5 * 86400, "%b %d", 0),
)}
DEFAULT_RANGE = "1h"
# A reading older than this is not "now": the sampler writes one every 10 s.
FRESH_SECONDS = 3 * FINE_STEP
EVENTS_LISTED = 20


@dataclass
class Chart:
    title: str
    legend: list[tuple[str, str, str]]  # (class, label, words)
    svg: SafeString


def local(t: float) -> datetime.datetime:
    return timezone.localtime(datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc))


def when(t: float, with_date: bool) -> str:
    return local(t).strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M:%S")


def x_ticks(start: float, end: float, r: Range) -> list[tuple[float, str]]:
    """Labels at round local times: every 10 minutes, 3 hours, day or 5 days."""
    midnight = local(start).replace(hour=0, minute=0, second=0, microsecond=0)
    ticks, k = [], 0
    while True:
        t = (midnight + datetime.timedelta(seconds=k * r.tick)).timestamp()
        k += 1
        if t > end:
            return ticks
        if t >= start:
            ticks.append((t, local(t).strftime(r.tick_format)))


def _latest(grid: Grid, name: str) -> float | None:
    for value in reversed(grid.columns[name]):
        if not math.isnan(value):
            return value
    return None


def _peak(values) -> float | None:
    present = [v for v in values if not math.isnan(v)]
    return max(present) if present else None


def charts(display: Grid, frame: graphs.Frame, now_values: dict[str, float] | None) -> list[Chart]:
    def line(name: str, label: str, css: str) -> graphs.Line:
        return graphs.Line(label, css, display.columns[name], display.columns[f"max_{name}"])

    def words(name: str, unit: str) -> str:
        peak = _peak(display.columns[f"max_{name}"])
        current = "no reading now" if now_values is None else f"now {graphs.si(now_values[name], unit)}"
        return current + ("" if peak is None else f", peak {graphs.si(peak, unit)}")

    specs = [("Connections", "", [("active", "active", "active"), ("inactive", "inactive", "inactive")]),
             ("New connections per second", "/s", [("cps", "new", "cps")]),
             ("Traffic (bytes per second)", "B/s", [("inbps", "in", "in"), ("outbps", "out", "out")])]
    return [Chart(title, [(css, label, words(name, unit)) for name, label, css in lines],
                  mark_safe(graphs.line_chart(title, unit, [line(name, label, css) for name, label, css in lines], frame)))
            for title, unit, lines in specs]


def segments(rs: RealServer, events: list[HealthEvent], start: float, end: float, with_date: bool) -> list[graphs.Segment]:
    """rs's health over [start, end) from its transitions in that range (oldest first): the
    state before the first is that one's old state; without any, the current one."""
    state = events[0].old_state if events else rs.health
    reason = "" if events else rs.health_reason
    since = start
    out = []
    for e in events:
        t = e.at.timestamp()
        out.append(graphs.Segment(since, t, state, _segment_words(state, since, t, reason, with_date)))
        state, reason, since = e.new_state, e.reason, t
    out.append(graphs.Segment(since, end, state, _segment_words(state, since, None, reason, with_date)))
    return out


def _segment_words(state: str, since: float, until: float | None, reason: str, with_date: bool) -> str:
    span = f"{when(since, with_date)} to {when(until, with_date)}" if until is not None else f"since {when(since, with_date)}"
    return f"{state} {span}" + (f": {reason}" if reason else "")


def history_context(ref: SeriesRef, real_servers: list[RealServer], range_name: str,
                    now: float | None = None) -> dict:
    now = time.time() if now is None else now
    r = RANGES.get(range_name) or RANGES[DEFAULT_RANGE]
    end = chunk_start(now, r.step) + r.step
    start = end - r.seconds
    grid = read_fine(ref, start, end) if r.seconds <= 86400 else read_coarse(ref, start, end, now)
    display = on_display_grid(grid, r.step)
    recent = grid if r.step == FINE_STEP else read_fine(ref, int(now) - 3600, int(now) + FINE_STEP)
    last = recent.last_reading() or last_reading_before(ref, int(now) - 3600)
    fresh = last is not None and now - last <= FRESH_SECONDS
    with_date = r.seconds > 86400 or (last is not None and now - last > 86400)
    frame = graphs.Frame(start, end, r.step, now, x_ticks(start, end, r),
                         lambda t0, t1: f"no data from {when(t0, with_date)} to {when(t1, with_date)}")
    now_values = {name: _latest(recent, name) or 0.0 for name in FIELDS} if fresh else None
    events = list(HealthEvent.objects.filter(real_server__in=real_servers, at__gte=local(start))
                  .select_related("real_server").order_by("at", "id"))
    per_rs = {rs.pk: [e for e in events if e.real_server_id == rs.pk] for rs in real_servers}
    rows = [(rs.name, segments(rs, per_rs[rs.pk], start, end, with_date)) for rs in real_servers]
    return {
        "range": r, "ranges": list(RANGES.values()), "refresh": r.refresh,
        "unknown_range": "" if range_name in RANGES or not range_name else
        f"No range {range_name[:20]!r}: showing {r.label}. Choose 1 h, 24 h, 7 d or 30 d.",
        "charts": charts(display, frame, now_values),
        "stale": "" if fresh else (f"No data since {when(last, with_date)}: the numbers below stop there "
                                   f"(is the live poller running, is the director reachable?)" if last
                                   else "No data yet: the history starts with the first reading of a director."),
        "error": grid.error,
        "timeline": mark_safe(graphs.timeline(rows, frame)) if rows else "",
        "events": list(reversed(events))[:EVENTS_LISTED], "events_total": len(events),
    }
