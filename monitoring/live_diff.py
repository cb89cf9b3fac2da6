"""The live table's poll sends only what changed.

Every answer carries a version: a digest of what it shows. The page sends back the version
it shows (header X-Live-Version, static/js/lbadmin.js); the server keeps, for a short
while in Redis, each version's shape (the rows in their order, the filter and page, the
VRRP panel, whether a reading is stale or failed) and a digest per row and per director
heading. A poll then answers:

- 204 and nothing when the page is already current;
- only the changed rows and headings, as HTMX out-of-band swaps keyed by element id,
  when the shape is the same;
- the whole panel otherwise (new rows, another page, a reading turned stale, a version
  this server does not know, Redis unreachable).

Truth first: a change of state (stale, failed, drift badge) always reaches the page, since
it changes a heading or the shape; and a page that lost a poll drops its version
(lbadmin.js), so its next answer is whole."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from lbadmin.redis_client import get_redis, note_failure, redis_outage

VIEW_KEY = "lbadmin:live:view:{}"
VIEW_SECONDS = 120  # a page polls every 2 to 30 s: its version is asked for within that


def digest(*parts) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def head_id(view) -> str:
    return f"live-head-{view.director.pk}"


@dataclass
class LiveState:
    version: str = ""
    shape: str = ""
    parts: dict[str, str] = field(default_factory=dict)  # element id -> digest of what it shows
    objects: dict[str, tuple[str, object, object]] = field(default_factory=dict)  # id -> (kind, row, view)


def state_of(views, groups, query, interval: int) -> LiveState:
    """The version of a rendering of `views` (director_views' result) and what it holds."""
    state, shape = LiveState(), [repr(groups), query, interval]
    for view, rows in views:
        snapshot = view.snapshot or {}
        pager = view.pager
        shape.append((view.director.pk, view.error, bool(view.snapshot), snapshot.get("ok"), snapshot.get("error"),
                      view.stale, (pager.page, pager.pages, pager.total) if pager else None,
                      [(row.id, [d.id for d in row.destinations]) for row in rows]))
        state.parts[head_id(view)] = digest(view.director.name, view.director.status, view.sync, snapshot.get("time"),
                                            snapshot.get("took_ms"))
        state.objects[head_id(view)] = ("head", view, view)
        for row in rows:
            state.parts[row.id] = digest(row.label, row.name, row.scheduler, row.persistent, row.cps, row.drift)
            state.objects[row.id] = ("service", row, view)
            for dest in row.destinations:
                state.parts[dest.id] = digest(dest)
                state.objects[dest.id] = ("dest", dest, view)
    state.shape = digest(*shape)
    state.version = digest(state.shape, sorted(state.parts.items()))
    return state


def save(state: LiveState) -> None:
    if redis_outage() is not None:
        return
    try:
        get_redis().set(VIEW_KEY.format(state.version), json.dumps({"shape": state.shape, "parts": state.parts}),
                        ex=VIEW_SECONDS)
    except Exception as exc:  # no diff next time: the page gets the whole panel
        note_failure(exc)


def changed(version: str, state: LiveState) -> list[tuple[str, object, object]] | None:
    """What differs between the version the page shows and `state`: the changed rows and
    headings, [] when nothing did, None when only the whole panel will do."""
    if not version or len(version) > 32 or redis_outage() is not None:
        return None
    try:
        raw = get_redis().get(VIEW_KEY.format(version))
    except Exception as exc:
        note_failure(exc)
        return None
    if raw is None:
        return None
    shown = json.loads(raw)
    if shown["shape"] != state.shape:
        return None
    return [state.objects[key] for key, value in state.parts.items() if shown["parts"].get(key) != value]
