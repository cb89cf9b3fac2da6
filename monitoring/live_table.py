"""The live routing table, read side: the latest snapshot from Redis (written by
monitoring.live_poller), joined with what was asked for (admin state, health) and marked
where the two differ. Pages read only Redis and the database, never a director."""
import datetime
import json
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from lbadmin.models import Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage
from virtualservers import ipvs
from virtualservers.desired import desired_table, service_key
from virtualservers.models import RealServer
from virtualservers.reconcile import PENDING_KEY

from . import graphs
from .live_poller import HISTORY_KEY, HISTORY_POINTS, SNAPSHOT_KEY

# A reading older than this many poll intervals is not shown as the kernel's state now:
# the poller (beat and a worker) stopped, or cannot reach Redis or the director.
STALE_POLLS = 2


def poll_interval() -> float:
    return float(settings.CELERY_BEAT_SCHEDULE["live-table"]["schedule"])


@dataclass
class LiveView:
    director: Director
    snapshot: dict | None
    history: list[dict]
    sync: str = ""  # "In sync", "drift", "applying" or "stale", from the rows (director_views)
    error: str = ""  # why there is no reading at all (Redis unreachable)

    @property
    def sync_badge(self) -> str:
        return {"In sync": "ok", "applying": "draining", "stale": "unknown"}.get(self.sync, "drift")

    @property
    def age(self) -> float | None:
        return time.time() - self.snapshot["time"] if self.snapshot else None

    @property
    def stale(self) -> str:
        """Empty while the reading is current; else what the panel says in its place."""
        if not self.snapshot or self.age <= STALE_POLLS * poll_interval():
            return ""
        read = datetime.datetime.fromtimestamp(self.snapshot["time"], tz=datetime.timezone.utc)
        return (f"live data stale since {timezone.localtime(read):%H:%M:%S}: no new reading for "
                f"{self.age:.0f} s (the poller reads every {poll_interval():g} s: are beat and a worker running?)")


def read_live(director: Director) -> LiveView:
    """The latest snapshot; with Redis unreachable, none, and the reason in `error` (the page
    says live data is unavailable rather than showing an old table or answering 500)."""
    outage = redis_outage()
    if outage is None:
        try:
            redis = get_redis()
            raw = redis.get(SNAPSHOT_KEY.format(director.pk))
            history = [json.loads(p) for p in redis.lrange(HISTORY_KEY.format(director.pk), 0, HISTORY_POINTS - 1)]
        except Exception as exc:
            note_failure(exc)
            outage = redis_outage()
        else:
            history.reverse()
            return LiveView(director, json.loads(raw) if raw else None, history)
    return LiveView(director, None, [], error=f"live data unavailable: {outage.words} ({outage.reason})")


def sparkline(history: list[dict], dest: str, width: int = 120, height: int = 24) -> str:
    """An SVG line of one real server's active connections over the history."""
    return graphs.sparkline([p["c"].get(dest, 0) for p in history], width, height)


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


@dataclass
class ServiceRow:
    label: str
    name: str
    scheduler: str
    persistent: int | None
    cps: int
    drift: str
    destinations: list[DestRow]


def _names() -> tuple[dict, dict]:
    services, dests = {}, {}
    for rs in RealServer.objects.select_related("virtual_server"):
        vs = rs.virtual_server
        key = service_key(vs)
        services[str(key)] = vs.name
        dests[(str(key), ipvs.normalize_address(rs.address)[0])] = rs
    return services, dests


def build_rows(view: LiveView) -> list[ServiceRow]:
    if not view.snapshot or not view.snapshot.get("ok"):
        return []
    desired = desired_table(view.director)
    live = ipvs.parse_save(view.snapshot["table"])
    service_names, real_servers = _names()
    snap_services = {s["key"]: s for s in view.snapshot["services"]}
    rows = []
    for key in sorted(set(live) | set(desired), key=lambda k: k.sort_key()):
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
                                 drift, sparkline(view.history, d["id"])))
        seen = {ipvs.DestKey(d["address"], d["port"]) for d in snap["destinations"]}
        for dk, want in wanted_dests.items():
            if dk not in seen:
                rs = real_servers.get((k, want.address))
                dests.append(DestRow(want.endpoint, rs.name if rs else "sorry server", want.forwarding, want.weight, {},
                                     rs.admin_state if rs else "", rs.health if rs else "", rs.health_reason if rs else "",
                                     "missing"))
        # Taken out by its health check: not in the kernel, and rightly so; still shown.
        present = {(str(d.endpoint).rsplit(":", 1)[0].strip("[]")) for d in dests}
        for (service, address), rs in real_servers.items():
            if service == k and rs.health == RealServer.Health.DOWN and address not in present:
                dests.append(DestRow(address, rs.name, "", None, {}, rs.admin_state, rs.health, rs.health_reason,
                                     "", note="out of the kernel table: its health check is down"))
        rows.append(ServiceRow(key.label, service_names.get(k, ""), (live_service or wanted).scheduler,
                               (live_service or wanted).persistent, snap.get("cps", 0), service_drift, dests))
    return rows


def director_views(directors) -> list[tuple[LiveView, list[ServiceRow]]]:
    result = []
    for director in directors:
        view = read_live(director)
        rows = build_rows(view)
        view.sync = sync_word(view, rows)
        result.append((view, rows))
    return result


def sync_word(view: LiveView, rows: list[ServiceRow]) -> str:
    """The director's badge on the live table: "In sync" only when the kernel holds exactly
    the desired table; "applying" while a reconcile is queued or running; else "drift".
    Empty when there is no reading (the template shows the director's own status)."""
    if not view.snapshot or not view.snapshot.get("ok"):
        return ""
    if view.stale:  # an old reading says nothing about the kernel now
        return "stale"
    differs = any(row.drift or any(d.drift for d in row.destinations) for row in rows)
    if not differs:
        return "In sync"
    try:
        pending = bool(get_redis().exists(PENDING_KEY.format(view.director.pk)))
    except Exception as exc:
        note_failure(exc)
        pending = False
    return "applying" if pending or view.director.apply_runs.filter(result="running").exists() else "drift"


def enabled_directors():
    return Director.objects.filter(enabled=True)
