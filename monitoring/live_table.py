"""The live routing table, read side: the latest snapshot from Redis (written by
monitoring.live_poller), joined with what was asked for (admin state, health) and marked
where the two differ. Pages read only Redis and the database, never a director.

A page shows PAGE_SIZE services, filtered (LiveQuery): at 1,000 x 8 the whole table was
9,000 rows and 16 MB on every 2-s poll of every open page (bench/bench_pages.py)."""
from __future__ import annotations

import datetime
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from lbadmin.models import Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage
from virtualservers import ipvs, outbox
from virtualservers.desired import desired_table, service_key
from virtualservers.models import ApplyRun, RealServer, VirtualServer
from virtualservers.reconcile import PENDING_KEY
from virtualservers.vrrp_config import not_served_by

from . import graphs
from .live_history import Series, history
from .live_poller import SNAPSHOT_KEY, parse_snapshot

# A reading older than this many poll intervals is not shown as the kernel's state now:
# the poller (beat and a worker) stopped, or cannot reach Redis or the director.
STALE_POLLS = 2


def poll_interval() -> float:
    return float(settings.CELERY_BEAT_SCHEDULE["live-table"]["schedule"])


@dataclass
class LiveView:
    director: Director
    snapshot: dict | None
    history: Series
    sync: str = ""  # "In sync", "drift", "applying" or "stale", from the rows (director_views)
    error: str = ""  # why there is no reading at all (Redis unreachable)
    pager: Pager | None = None  # the page of services shown (build_rows)

    @property
    def sync_badge(self) -> str:
        return {"In sync": "ok", "applying": "draining", "stale": "unknown"}.get(self.sync, "drift")

    @property
    def age(self) -> float | None:
        return time.time() - self.snapshot["time"] if self.snapshot else None

    @property
    def read_at(self) -> datetime.datetime | None:
        return datetime.datetime.fromtimestamp(self.snapshot["time"], tz=datetime.timezone.utc) if self.snapshot else None

    @property
    def stale(self) -> str:
        """Empty while the reading is current; else what the panel says in its place."""
        if not self.snapshot or self.age <= STALE_POLLS * poll_interval():
            return ""
        read = datetime.datetime.fromtimestamp(self.snapshot["time"], tz=datetime.timezone.utc)
        return (f"live data stale since {timezone.localtime(read):%H:%M:%S}: no new reading for "
                f"{self.age:.0f} s (the poller reads every {poll_interval():g} s: are beat and a worker running?)")


def read_live(director: Director) -> LiveView:
    """The latest snapshot and the graphs' history; with Redis unreachable, none, and the
    reason in `error` (the page says live data is unavailable rather than showing an old
    table or answering 500)."""
    outage = redis_outage()
    if outage is None:
        try:
            redis = get_redis()
            raw = redis.get(SNAPSHOT_KEY.format(director.pk))
            series = history(redis, director.pk)
        except Exception as exc:
            note_failure(exc)
            outage = redis_outage()
        else:
            return LiveView(director, _snapshot(raw) if raw else None, series)
    return LiveView(director, None, Series(), error=f"live data unavailable: {outage.words} ({outage.reason})")


GRAPH_POINTS = 60  # 2 pixels a point in a 120-pixel graph


@lru_cache(maxsize=4)
def _snapshot(raw: str) -> dict:
    """A snapshot parsed once for every viewer of the same reading (2.8 MB of JSON at
    1,000 x 8; about 20 MB held per entry): shared, so read, never changed."""
    return parse_snapshot(raw)


def sparkline(values: list[int], width: int = 120, height: int = 24) -> str:
    """One real server's active connections over the history (monitoring.graphs draws it):
    at most GRAPH_POINTS points, each the peak of the samples it stands for."""
    if len(values) > GRAPH_POINTS:
        size = len(values) / GRAPH_POINTS
        values = [max(values[int(i * size):int((i + 1) * size)]) for i in range(GRAPH_POINTS)]
    return graphs.sparkline(values, width, height)


def row_id(director: Director, *parts: str) -> str:
    """A stable element id for a row (the poll swaps changed rows by id): the director and a
    digest of the service key (and destination), the same in every web process."""
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=6).hexdigest()
    return f"l{director.pk}-{digest}"


@dataclass
class DestRow:
    endpoint: str
    name: str = ""
    forwarding: str = ""
    weight: int | None = None
    data: dict = field(default_factory=dict)
    admin_state: str = ""
    health: str = ""
    health_reason: str = ""
    drift: str = ""  # "", "not desired", "missing", "weight differs"
    graph: str = ""
    note: str = ""  # why a real server of the service is not in the kernel table
    id: str = ""


@dataclass
class ServiceRow:
    label: str
    name: str
    scheduler: str
    persistent: int | None
    cps: int
    drift: str
    destinations: list[DestRow]
    id: str = ""


@dataclass(frozen=True)
class LiveQuery:
    """What the viewer asked for: a filter (part of a name, a VIP or a real server's address
    or name) and a page of PAGE_SIZE services."""
    text: str = ""
    page: int = 1

    @classmethod
    def from_request(cls, params) -> LiveQuery:
        try:
            page = max(1, int(params.get("page", 1)))
        except ValueError:
            page = 1
        return cls(params.get("q", "").strip()[:100], page)


@dataclass
class Pager:
    page: int = 1
    pages: int = 1
    total: int = 0  # services that match the filter
    everything: int = 0  # services in the table

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


PAGE_SIZE = 20


@lru_cache(maxsize=4)
def _parsed(table_text: str) -> ipvs.Table:
    """The kernel's table as the poller rendered it, parsed once per distinct text: it
    changes with the table, not with the counters (27 ms at 9,000 lines)."""
    return ipvs.parse_save(table_text)


_known: dict[int, tuple[tuple, tuple[dict, set]]] = {}  # director id -> (version, services)


def _known_services(director: Director) -> tuple[dict[ipvs.ServiceKey, VirtualServer], set[ipvs.ServiceKey]]:
    """Every virtual server by its kernel key (for names and the filter), and the keys this
    director should hold; kept while the virtual servers and their directors are unchanged
    (every edit saves the row, so its updated_at moves; adding or deleting moves the count
    or the highest id): one aggregate query per poll instead of 1,000 rows."""
    through = VirtualServer.directors.through.objects.aggregate(n=Count("pk"), top=Max("pk"))
    version = (director.group_id, tuple(VirtualServer.objects.aggregate(
        n=Count("pk"), top=Max("pk"), changed=Max("updated_at")).values()), tuple(through.values()))
    held = _known.get(director.pk)
    if held is None or held[0] != version:
        held = _known[director.pk] = (version, _load_services(director))
    return held[1]


def _load_services(director: Director) -> tuple[dict[ipvs.ServiceKey, VirtualServer], set[ipvs.ServiceKey]]:
    by_key, wanted = {}, set()
    elsewhere = not_served_by(director)
    for vs in VirtualServer.objects.only("pk", "name", "active", "protocol", "address", "port", "fwmark"):
        key = service_key(vs)
        by_key[key] = vs
        if vs.active and vs.pk not in elsewhere:
            wanted.add(key)
    return by_key, wanted


def _matching(text: str, keys: list[ipvs.ServiceKey], by_key: dict, snapshot: dict) -> list[ipvs.ServiceKey]:
    """The services whose label, name or one of whose real servers (address or name, in the
    database or only in the kernel) contains `text`."""
    needle = text.lower()
    with_server = set(RealServer.objects.filter(Q(address__icontains=text) | Q(name__icontains=text))
                      .values_list("virtual_server_id", flat=True))
    in_kernel = {s["key"] for s in snapshot.get("services", [])
                 if any(needle in d["endpoint"].lower() for d in s["destinations"])}
    found = []
    for key in keys:
        vs = by_key.get(key)
        if (needle in key.label.lower() or needle in str(key).lower() or str(key) in in_kernel
                or (vs is not None and (needle in vs.name.lower() or vs.pk in with_server))):
            found.append(key)
    return found


def _page_keys(view: LiveView, live: ipvs.Table, query: LiveQuery) -> tuple[list[ipvs.ServiceKey], dict, Pager]:
    by_key, wanted = _known_services(view.director)
    keys = sorted(set(live) | wanted, key=lambda k: k.sort_key())
    matching = _matching(query.text, keys, by_key, view.snapshot) if query.text else keys
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(query.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return shown, {k: by_key[k] for k in shown if k in by_key}, Pager(page, pages, len(matching), len(keys))


def build_rows(view: LiveView, query: LiveQuery | None = None) -> list[ServiceRow]:
    """The rows of one page of services: the kernel's reading joined with the desired table
    of just those services and their real servers (admin state, health)."""
    view.pager = Pager()
    if not view.snapshot or not view.snapshot.get("ok"):
        return []
    live = _parsed(view.snapshot["table"])
    shown, servers, view.pager = _page_keys(view, live, query or LiveQuery())
    desired = desired_table(view.director, only=[vs.pk for vs in servers.values()]) if servers else ipvs.Table()
    real_servers: dict[tuple[str, str], RealServer] = {}
    by_service: dict[str, list[RealServer]] = defaultdict(list)
    names = {vs.pk: str(key) for key, vs in servers.items()}
    for rs in RealServer.objects.filter(virtual_server_id__in=list(names)):
        k = names[rs.virtual_server_id]
        real_servers[(k, ipvs.normalize_address(rs.address)[0])] = rs
        by_service[k].append(rs)
    snap_services = {s["key"]: s for s in view.snapshot["services"]}
    rows = []
    for key in shown:
        k = str(key)
        snap = snap_services.get(k, {"destinations": [], "cps": 0})
        live_service, wanted = live.get(key), desired.get(key)
        service_drift = "not desired" if wanted is None else "missing" if live_service is None else (
            "settings differ" if live_service.settings != wanted.settings else "")
        dests = []
        wanted_dests = wanted.destinations if wanted else {}
        for d in snap["destinations"]:
            dk = ipvs.DestKey(d["address"], d["port"])
            rs = real_servers.get((k, d["address"]))
            want = wanted_dests.get(dk)
            drift = "not desired" if want is None else (
                "weight differs" if want.weight != d["weight"] or want.forwarding != d["forwarding"] else "")
            dests.append(DestRow(d["endpoint"], rs.name if rs else "", d["forwarding"], d["weight"], d,
                                 rs.admin_state if rs else "", rs.health if rs else "", rs.health_reason if rs else "",
                                 drift, view.history.graph(d["id"], sparkline), id=row_id(view.director, k, d["endpoint"])))
        seen = {ipvs.DestKey(d["address"], d["port"]) for d in snap["destinations"]}
        for dk, want in wanted_dests.items():
            if dk not in seen:
                rs = real_servers.get((k, want.address))
                dests.append(DestRow(want.endpoint, rs.name if rs else "sorry server", want.forwarding, want.weight, {},
                                     rs.admin_state if rs else "", rs.health if rs else "", rs.health_reason if rs else "",
                                     "missing", id=row_id(view.director, k, want.endpoint)))
        # Taken out by its health check: not in the kernel, and rightly so; still shown.
        present = {(str(d.endpoint).rsplit(":", 1)[0].strip("[]")) for d in dests}
        for rs in by_service.get(k, []):
            address = ipvs.normalize_address(rs.address)[0]
            if rs.health == RealServer.Health.DOWN and address not in present:
                dests.append(DestRow(address, rs.name, "", None, {}, rs.admin_state, rs.health, rs.health_reason,
                                     "", note="out of the kernel table: its health check is down",
                                     id=row_id(view.director, k, address)))
        vs = servers.get(key)
        rows.append(ServiceRow(key.label, vs.name if vs else "", (live_service or wanted).scheduler,
                               (live_service or wanted).persistent, snap.get("cps", 0), service_drift, dests,
                               id=row_id(view.director, k)))
    return rows


def director_views(directors, query: LiveQuery | None = None) -> list[tuple[LiveView, list[ServiceRow]]]:
    result = []
    for director in directors:
        view = read_live(director)
        rows = build_rows(view, query)
        view.sync = sync_word(view, rows)
        result.append((view, rows))
    return result


def _pending(director: Director) -> bool:
    try:
        return bool(get_redis().exists(PENDING_KEY.format(director.pk)))
    except Exception as exc:
        note_failure(exc)
        return True  # unknown: not a ground for the short way to "In sync"


def _kernel_holds_desired(view: LiveView, rows: list[ServiceRow], pending: bool) -> bool:
    """Does the kernel hold exactly the desired table? The shown rows answer for their
    services. For the others, the short way: the kernel holds the table lbadmin last applied
    and verified there, that apply succeeded, and no change waits to be applied since (every
    change of the desired state queues one). Otherwise the whole desired table is built and
    compared (about 0.5 s at 1,000 x 8): while something is pending, or after drift."""
    if any(row.drift or any(d.drift for d in row.destinations) for row in rows):
        return False
    live = _parsed(view.snapshot["table"])
    director = view.director
    if director.applied_table and not pending and _parsed(director.applied_table) == live:
        latest = director.apply_runs.order_by("-pk").values_list("result", flat=True).first()
        if latest in (ApplyRun.Result.OK, ApplyRun.Result.NOOP) and not outbox.waiting().get(director.pk):
            return True
    return desired_table(director) == live


def sync_word(view: LiveView, rows: list[ServiceRow]) -> str:
    """The director's badge on the live table: "In sync" only when the kernel holds exactly
    the desired table; "applying" while a reconcile is queued or running; else "drift".
    Empty when there is no reading (the template shows the director's own status)."""
    if not view.snapshot or not view.snapshot.get("ok"):
        return ""
    if view.stale:  # an old reading says nothing about the kernel now
        return "stale"
    pending = _pending(view.director)
    if _kernel_holds_desired(view, rows, pending):
        return "In sync"
    return "applying" if pending or view.director.apply_runs.filter(result="running").exists() else "drift"


def enabled_directors():
    return Director.objects.filter(enabled=True)
