"""SVG drawings made on the server: the live table's sparklines, the history's line charts
and the health timeline. No script and no external service; the CSP allows no inline style,
so colours come from classes in static/css/lbadmin.css. No Django here: the caller gives
the times' words (local time) as text, and every text drawn is escaped here.

A missing value (NaN) is never drawn over: the line stops, and the stretch without any
reading is shaded, its <title> saying so, up to "now" and no further (the future is blank,
not a gap)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape


def _present(values: Sequence[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def _runs(points: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive points between the missing ones."""
    runs, current = [], []
    for point in points:
        if point is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(point)
    if current:
        runs.append(current)
    return runs


def _path(points: Sequence[tuple[float, float] | None], css: str) -> str:
    """A polyline per run of points (a lone point as a dot): no line across a gap."""
    out = []
    for run in _runs(points):
        if len(run) == 1:
            out.append(f'<circle class="{css}" cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="1.5"/>')
        else:
            out.append(f'<polyline class="{css}" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in run)}"/>')
    return "".join(out)


def sparkline(values: Sequence[float], width: int = 120, height: int = 24, label: str = "active connections") -> str:
    """A small line of recent values (the live table's 2-s history), scaled to its peak."""
    if len(values) < 2:
        return ""
    top = max(_present(values), default=0) or 1
    step = width / (len(values) - 1)
    points = [None if math.isnan(v) else (i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(values)]
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}, last {len(values)} samples, peak {max(_present(values), default=0):g}">'
            f'{_path(points, "line")}</svg>')


def nice_top(peak: float) -> tuple[float, float]:
    """A round top for the y axis at or above peak, in at most five ticks of 1, 2, 2.5 or
    5 x 10^n: 37 -> 40 by 10, 50 -> 50 by 10, 1.9 M -> 2 M by 500 k."""
    if not peak or peak <= 0 or math.isnan(peak):
        return 1.0, 0.25
    magnitude = 10 ** math.floor(math.log10(peak / 5))
    for factor in (1, 2, 2.5, 5, 10, 20):
        tick = factor * magnitude
        ticks = math.ceil(peak / tick - 1e-9)
        if ticks <= 5:
            return ticks * tick, tick
    return peak, peak / 5  # not reached: 10 x magnitude > peak / 5 fits in five ticks


def si(value: float, unit: str = "") -> str:
    """1500 -> "1.5 k", 2e6 B/s -> "2 MB/s", 7 /s -> "7/s"; small values as they are."""
    number, prefix = (f"{value:.3g}" if value != int(value) else f"{int(value)}"), ""
    for limit, letter in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            number, prefix = f"{value / limit:.3g}", letter
            break
    suffix = prefix + unit
    return number if not suffix else number + ("" if suffix.startswith("/") else " ") + suffix


@dataclass
class Line:
    label: str
    css: str  # a class in lbadmin.css: its colour
    values: Sequence[float]  # one per bucket, NaN for none
    peaks: Sequence[float] | None = None  # the buckets' maxima, drawn faint when they differ


@dataclass
class Frame:
    """Where a chart sits: its time range, buckets and axis words."""
    start: float
    end: float
    step: float  # seconds a bucket
    now: float
    ticks: Sequence[tuple[float, str]]  # (time, label) on the x axis
    gap_words: Callable[[float, float], str]  # the <title> of a stretch without data
    width: int = 720
    left: int = 64
    right: int = 8

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    def x(self, t: float) -> float:
        return self.left + (min(max(t, self.start), self.end) - self.start) / (self.end - self.start) * self.plot_width


def _x_axis(frame: Frame, top: float, bottom: float) -> str:
    out = []
    for t, label in frame.ticks:
        x = frame.x(t)
        # A label at either end is kept inside the picture.
        anchor = "end" if x > frame.width - frame.right - 16 else "start" if x < frame.left + 16 else "middle"
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                   f'<text class="axis" x="{x:.1f}" y="{bottom + 13}" text-anchor="{anchor}">{escape(label)}</text>')
    return "".join(out)


def _gaps(frame: Frame, lines: Sequence[Line], top: float, height: float) -> str:
    """Shade each stretch where no line has a value, up to now."""
    buckets = max((len(line.values) for line in lines), default=0)
    missing = [all(i >= len(line.values) or math.isnan(line.values[i]) for line in lines) for i in range(buckets)]
    out = []
    i = 0
    while i < buckets:
        if not missing[i] or frame.start + i * frame.step >= frame.now:
            i += 1
            continue
        j = i
        while j + 1 < buckets and missing[j + 1] and frame.start + (j + 1) * frame.step < frame.now:
            j += 1
        t0, t1 = frame.start + i * frame.step, min(frame.start + (j + 1) * frame.step, frame.now)
        x0, x1 = frame.x(t0), frame.x(t1)
        out.append(f'<rect class="gap" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" height="{height}">'
                   f'<title>{escape(frame.gap_words(t0, t1))}</title></rect>')
        i = j + 1
    return "".join(out)


def line_chart(title: str, unit: str, lines: Sequence[Line], frame: Frame, height: int = 150) -> str:
    """A chart of lines over the frame: y from 0 to a round top with unit labels, x in time."""
    top_pad, bottom_pad = 8, 20
    plot_height = height - top_pad - bottom_pad
    bottom = top_pad + plot_height
    peak = max((v for line in lines for v in _present([*line.values, *(line.peaks or [])])), default=0)
    y_top, tick = nice_top(peak)

    def y(v: float) -> float:
        return bottom - (v / y_top) * plot_height

    parts = [f'<svg class="chart" width="{frame.width}" height="{height}" viewBox="0 0 {frame.width} {height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
             _gaps(frame, lines, top_pad, plot_height)]
    for k in range(int(round(y_top / tick)) + 1):
        v = k * tick
        parts.append(f'<line class="grid" x1="{frame.left}" y1="{y(v):.1f}" x2="{frame.width - frame.right}" '
                     f'y2="{y(v):.1f}"/><text class="axis" x="{frame.left - 4}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{escape(si(v, unit))}</text>')
    parts.append(_x_axis(frame, top_pad, bottom))
    for line in lines:
        def points(values: Sequence[float]) -> list[tuple[float, float] | None]:
            return [None if math.isnan(v) or frame.start + i * frame.step >= frame.now
                    else (frame.x(frame.start + (i + 0.5) * frame.step), y(v)) for i, v in enumerate(values)]
        if line.peaks is not None and any(p != v for p, v in zip(line.peaks, line.values) if not math.isnan(p)):
            parts.append(_path(points(line.peaks), f"peak {line.css}"))
        parts.append(_path(points(line.values), f"line {line.css}"))
    parts.append(f'<line class="axis-line" x1="{frame.left}" y1="{bottom}" x2="{frame.width - frame.right}" '
                 f'y2="{bottom}"/></svg>')
    return "".join(parts)


@dataclass
class Segment:
    start: float
    end: float
    state: str  # up, down or unknown: the class h-<state>
    words: str  # its <title>: the state, since when, and why


def timeline(rows: Sequence[tuple[str, Sequence[Segment]]], frame: Frame, row_height: int = 16) -> str:
    """A band per row (a real server): a segment per health state, each with its reason."""
    top = 4
    height = top + len(rows) * (row_height + 4) + 18
    bottom = height - 18
    parts = [f'<svg class="timeline" width="{frame.width}" height="{height}" viewBox="0 0 {frame.width} {height}" '
             f'role="img" aria-label="health over time"><title>health over time</title>', _x_axis(frame, top, bottom)]
    for r, (label, segments) in enumerate(rows):
        y = top + r * (row_height + 4)
        parts.append(f'<text class="axis" x="{frame.left - 4}" y="{y + row_height - 4}" text-anchor="end">'
                     f'{escape(label[:12])}</text>')
        for seg in segments:
            x0, x1 = frame.x(seg.start), frame.x(min(seg.end, frame.now))
            if x1 <= x0:
                continue
            parts.append(f'<rect class="h-{escape(seg.state)}" x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" '
                         f'height="{row_height}"><title>{escape(seg.words)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)
