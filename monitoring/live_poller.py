"""The live routing table, write side: polled from each director by beat, kept in Redis.

Viewers only read Redis (monitoring.live_table), so a hundred open pages cost a director
nothing more than one. A snapshot holds the table with connections, counters and rates;
a short history of connections per real server feeds the page's graphs.
"""
import json
import logging
import time

import orjson

from django.db import transaction
from django.utils import timezone

from lbadmin.models import Director
from lbadmin.redis_client import get_redis
from virtualservers import drain_facts, ipvs
from virtualservers.reconcile import UNREACHABLE, executor_for, forget_executor
from virtualservers.tasks import queue_reconcile

from .vrrp_poller import poll_vrrp, state_unknown

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "lbadmin:live:{}"
HISTORY_KEY = "lbadmin:live:history:{}"
HISTORY_POINTS = 150  # 5 minutes at one poll every 2 s


def parse_snapshot(raw: str | bytes) -> dict:
    """A snapshot as poll_director stored it. orjson, because every reader pays this per
    request (CONTROL, /metrics, the history sampler): 2.8 MB at 1,000 x 8, 18 ms with
    json, 5 with orjson. json.dumps writes NaN and Infinity, which orjson refuses: such a
    snapshot is read by json, as it was written. Raises ValueError if it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
# At most one poll per director at a time, whichever process runs it: a poll that finds
# the previous one still reading is skipped and counted; the next snapshot says how many.
POLLING_KEY = "lbadmin:live:polling:{}"
SKIPPED_KEY = "lbadmin:live:skipped:{}"
POLLING_TIMEOUT = 120  # seconds: a poller killed mid-read frees its director by then


def dest_id(service: ipvs.ServiceKey, address: str, port: int) -> str:
    return f"{service}|{ipvs.format_endpoint(address, port)}"


def _drains(director: Director, draining: dict, connections: str, table: ipvs.Table) -> None:
    """While a real server drains: the `ipvsadm -L -n -c` read with the poll's other listings
    (its output grows with every connection and template, so never read otherwise), its counts
    written for the rows, and
    a reconcile queued as soon as a drain that is over still holds a server in the kernel
    (its last connection closed, or its deadline passed): the drain ends now, not at the
    next 30-s sweep."""
    counts = ipvs.count_per_destination(ipvs.parse_connections(connections), table)
    drain_facts.record(director.pk, draining, counts, table)
    now = timezone.now()
    for rs, ref in draining.values():
        deadline = rs.drain_deadline()
        over = (deadline is not None and now >= deadline) or not counts.get(ref, ipvs.DrainCount()).connections
        if over and drain_facts.in_table(ref, table):
            transaction.on_commit(lambda: queue_reconcile(director.pk, "drain ended"))
            break


def _snapshot(director: Director, executor: ipvs.Executor) -> dict:
    started = time.perf_counter()
    draining = drain_facts.draining_destinations()
    # All listings in one run: over SSH one round trip, whatever the number.
    texts = executor.list_texts(["list", "stats", "rate", *(["connections"] if draining else [])])
    listing = ipvs.parse_list(texts["list"])
    stats = ipvs.parse_stats(texts["stats"])
    rates = ipvs.parse_rate(texts["rate"])
    if draining:
        _drains(director, draining, texts["connections"], listing.table)
    services = []
    for key, service in sorted(listing.table.items(), key=lambda kv: kv[0].sort_key()):
        dests = []
        for dest in service.destinations.sorted():
            ref = ipvs.DestRef(key, dest.address, dest.port)
            conns, stat, rate = listing.connections.get(ref), stats.destinations.get(ref), rates.destinations.get(ref)
            dests.append({
                "id": dest_id(key, dest.address, dest.port), "address": dest.address, "port": dest.port,
                "endpoint": dest.endpoint, "forwarding": dest.forwarding, "weight": dest.weight,
                "active": conns.active if conns else 0, "inactive": conns.inactive if conns else 0,
                "conns": stat.conns if stat else 0,
                "cps": rate.cps if rate else 0, "inpps": rate.inpps if rate else 0, "outpps": rate.outpps if rate else 0,
                "inbps": rate.inbps if rate else 0, "outbps": rate.outbps if rate else 0,
            })
        rate, stat = rates.services.get(key), stats.services.get(key)
        services.append({"key": str(key), "label": key.label, "scheduler": service.scheduler,
                         "persistent": service.persistent, "netmask": service.netmask,
                         "cps": rate.cps if rate else 0, "destinations": dests,
                         "inbps": rate.inbps if rate else 0, "outbps": rate.outbps if rate else 0,
                         # The service's own counters since it was made (the kernel keeps
                         # them apart from its destinations', which come and go).
                         "conns": stat.conns if stat else 0, "inpkts": stat.inpkts if stat else 0,
                         "outpkts": stat.outpkts if stat else 0, "inbytes": stat.inbytes if stat else 0,
                         "outbytes": stat.outbytes if stat else 0,
                         "kind": key.kind, "address": key.address, "port": key.port, "fwmark": key.fwmark,
                         "family": key.family})
    return {"ok": True, "error": "", "services": services, "table": ipvs.render(listing.table),
            "took_ms": round(1000 * (time.perf_counter() - started), 1)}


# The verdict per director, kept while neither text changes: parsing two 8,000-line
# tables costs about 140 ms at 1,000 x 8, and the poller (every poll) and /metrics (every
# scrape) ask far more often than either table changes. Keyed by both texts, so never
# stale; by director only to bound it to one entry each.
_drift_memo: dict[int | None, tuple[str, str, bool]] = {}


def drifted(director: Director, table_text: str) -> bool:
    """Does the kernel differ from the table lbadmin last verified there?"""
    applied = director.applied_table
    if not applied:
        return False
    memo = _drift_memo.get(director.pk)
    if memo is not None and memo[0] == table_text and memo[1] == applied:
        return memo[2]
    try:
        verdict = ipvs.parse_save(applied) != ipvs.parse_save(table_text)
    except ipvs.IpvsError:
        verdict = True
    _drift_memo[director.pk] = (table_text, applied, verdict)
    return verdict


def poll_if_idle(director: Director) -> dict | None:
    """Poll unless a poll of this director still runs (then None: skipped, counted)."""
    redis = get_redis()
    key = POLLING_KEY.format(director.pk)
    if not redis.set(key, "1", nx=True, ex=POLLING_TIMEOUT):
        redis.incr(SKIPPED_KEY.format(director.pk))
        redis.expire(SKIPPED_KEY.format(director.pk), 3600)
        log.info("live poll of %s skipped: the previous one still runs", director)
        return None
    try:
        return poll_director(director)
    finally:
        redis.delete(key)


def poll_director(director: Director) -> dict:
    """Read one director's table into Redis; mark it unreachable (or back) as seen."""
    redis = get_redis()
    try:
        executor = executor_for(director)
        snapshot = _snapshot(director, executor)
        if director.group_id is not None:
            snapshot["vrrp"] = poll_vrrp(director, executor)
    except ipvs.IpvsError as exc:
        snapshot = {"ok": False, "error": str(exc), "services": [], "table": ""}
        if isinstance(exc, UNREACHABLE):
            forget_executor(director.pk)
            director.set_status(Director.Status.UNREACHABLE, str(exc))
            state_unknown(director)
        else:
            director.set_status(Director.Status.DEGRADED, str(exc))
    except Exception as exc:  # a bug or an unloadable key must not stop the other directors' polls
        log.exception("live poll of %s failed", director)
        snapshot = {"ok": False, "error": f"internal error ({type(exc).__name__}): {exc}", "services": [], "table": ""}
        forget_executor(director.pk)
        director.set_status(Director.Status.DEGRADED, snapshot["error"][:500])
    else:
        if director.status in (Director.Status.UNREACHABLE, Director.Status.UNKNOWN):
            # Back (or first seen): converge it now rather than at the next sweep.
            transaction.on_commit(lambda: queue_reconcile(director.pk, "director reachable again"))
        elif drifted(director, snapshot["table"]):
            # Someone changed the kernel: repair (or report) now, not at the next 30 s sweep.
            transaction.on_commit(lambda: queue_reconcile(director.pk, "drift"))
    snapshot["time"] = time.time()
    snapshot["director"] = director.name
    snapshot["skipped"] = int(redis.getdel(SKIPPED_KEY.format(director.pk)) or 0)
    pipe = redis.pipeline()
    pipe.set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot), ex=3600)
    if snapshot["ok"]:
        point = {"t": snapshot["time"], "c": {d["id"]: d["active"] for s in snapshot["services"] for d in s["destinations"]}}
        pipe.lpush(HISTORY_KEY.format(director.pk), json.dumps(point))
        pipe.ltrim(HISTORY_KEY.format(director.pk), 0, HISTORY_POINTS - 1)
    pipe.execute()
    return snapshot
