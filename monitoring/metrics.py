"""What /metrics says, read at scrape time from Redis and the database, never a director.

The kernel's numbers come from the live snapshot the poller keeps in Redis
(monitoring.live_poller); health, admin state, VRRP state and applies from the database;
the checker's own state from the hash it publishes (monitoring.checker). A snapshot older
than two poll intervals is not served as current: its director gets
lbadmin_live_data_stale 1 and its age, and no kernel numbers. Without Redis, lbadmin_redis_up
is 0 and the database's facts are still served; never an error page.

Names and labels follow node_exporter's ipvs collector where they overlap
(node_ipvs_backend_connections_active -> lbadmin_ipvs_backend_connections_active, with
local_address, local_port, remote_address, remote_port, proto, local_mark), plus `director`.
Every label value is bounded: addresses, ports and marks of configured or kernel services,
director and virtual/real server names (operator-chosen, checked against the name rule, as
many as there are objects), and fixed state words. No reason text, no error text.

Few series, on purpose (tests/test_metrics.py counts them for 1,000 services x 8 real
servers and README gives the figure):
- per real server and director, the three node_exporter gives (active, inactive, weight);
  per real server once (not per director: it is the database's) one lbadmin_real_server_state
  series whose labels carry its health and admin state, rather than a 0/1 series per state;
- connection, packet and byte counters per virtual server, not per real server; no rate
  gauges: Prometheus's rate() over the counters gives exact rates over any window, where
  the kernel's estimator is a 2-second average sampled whenever the poll ran;
- a virtual server's name once, in lbadmin_virtual_server_info, joined in queries with
  `* on (local_address, local_port, proto, local_mark) group_left (name)`, so renaming one
  does not cut the history of its counters.

At that size a scrape reads 9,000 rows and a 2.8 MB snapshot and writes 39,000 series
(6.6 MB), so it reads rows rather than model instances, keeps samples as plain tuples
(Families) and is written by monitoring.exposition, byte for byte what prometheus_client's
generate_latest writes for the same families (tests/test_metrics_exposition.py) in a
tenth of its time.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import CharField, ExpressionWrapper, F, OuterRef, Subquery
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from lbadmin.models import ClusterSettings, Director
from lbadmin.redis_client import get_redis, note_failure, redis_outage
from virtualservers import ipvs
from virtualservers.desired import IPVS_FORWARDING, destination_port, key_of
from virtualservers.health_facts import LAST_KEY
from virtualservers.models import ApplyRun, RealServer, VirtualServer

from .checker_alarm import CHECKER_KEY, checker_alarm
from .exposition import Family, generate
from .health_counter import LAST_RESULT_KEY
from .live_poller import SNAPSHOT_KEY, drifted, parse_snapshot
from .live_table import STALE_POLLS, poll_interval

log = logging.getLogger(__name__)

SERVICE = ("local_address", "local_port", "proto", "local_mark")
BACKEND = SERVICE + ("remote_address", "remote_port")
VRRP_STATES = ("master", "backup", "fault", "stopped", "unknown")
APPLY_RESULTS = (ApplyRun.Result.OK, ApplyRun.Result.NOOP, ApplyRun.Result.ERROR)
LATENCY_QUANTILES = (0.5, 0.9, 0.99, 1.0)

# name: (type, help, labels). Every family is always present (perhaps empty), so a
# dashboard can be checked against this table (tests/test_metrics_dashboard.py).
METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "lbadmin_redis_up": ("gauge", "1 when Redis (live state) answered this scrape, else 0.", ()),
    "lbadmin_live_poll_interval_seconds": ("gauge", "How often the live poller reads each director.", ()),
    "lbadmin_live_data_age_seconds": ("gauge", "Age of the director's latest live snapshot.", ("director",)),
    "lbadmin_live_data_stale": (
        "gauge", "1 when there is no current reading of the director's table (older than two poll intervals, "
                 "none, or Redis unreachable): its kernel numbers are left out, not served old.", ("director",)),
    "lbadmin_director_reachable": ("gauge", "1 when the latest current poll read the director's table, 0 when it failed.",
                                   ("director",)),
    "lbadmin_director_drift": ("gauge", "1 when the director's kernel table differs from the one lbadmin last applied "
                                        "and verified there.", ("director",)),
    "lbadmin_director_vrrp_state": ("gauge", "1 for the director's VRRP state (directors in a redundancy group).",
                                    ("director", "state")),
    "lbadmin_director_last_apply_result": ("gauge", "1 for the result of the director's latest finished apply.",
                                           ("director", "result")),
    "lbadmin_director_last_apply_duration_seconds": ("gauge", "How long the director's latest finished apply took.",
                                                     ("director",)),
    "lbadmin_director_last_apply_timestamp_seconds": ("gauge", "When the director's latest finished apply ended.",
                                                      ("director",)),
    "lbadmin_ipvs_connections": ("counter", "Connections the kernel made for the virtual service.", ("director",) + SERVICE),
    "lbadmin_ipvs_incoming_packets": ("counter", "Packets into the virtual service.", ("director",) + SERVICE),
    "lbadmin_ipvs_outgoing_packets": ("counter", "Packets out of the virtual service.", ("director",) + SERVICE),
    "lbadmin_ipvs_incoming_bytes": ("counter", "Bytes into the virtual service.", ("director",) + SERVICE),
    "lbadmin_ipvs_outgoing_bytes": ("counter", "Bytes out of the virtual service.", ("director",) + SERVICE),
    "lbadmin_ipvs_backend_connections_active": ("gauge", "Active connections of the real server in the kernel.",
                                                ("director",) + BACKEND),
    "lbadmin_ipvs_backend_connections_inactive": ("gauge", "Inactive connections of the real server in the kernel.",
                                                  ("director",) + BACKEND),
    "lbadmin_ipvs_backend_weight": ("gauge", "The real server's weight in the kernel (0: draining or quiesced).",
                                    ("director",) + BACKEND),
    "lbadmin_virtual_server_info": ("gauge", "1 per configured virtual server, naming it.", SERVICE + ("name",)),
    "lbadmin_virtual_server_active": ("gauge", "1 when the virtual server is active (in the kernel), else 0.", SERVICE),
    "lbadmin_real_server_state": (
        "gauge", "1 per configured real server; health (up, down, unknown) and admin state (enabled, draining, "
                 "disabled) in its labels.", BACKEND + ("name", "health", "admin_state")),
    "lbadmin_checker_up": ("gauge", "1 when a health checker renewed its lease within the last 5 s.", ()),
    "lbadmin_checker_last_round_timestamp_seconds": (
        "gauge", "When the checker last completed a round of housekeeping (lease, targets, status).", ()),
    "lbadmin_checker_last_result_timestamp_seconds": ("gauge", "When the latest check result of any check arrived.", ()),
    "lbadmin_checker_results": ("counter", "Check results the running checker applied (rate(): checks per second; "
                                           "resets when another process takes the checker over).", ()),
    "lbadmin_checker_transitions": ("counter", "Health transitions the running checker wrote.", ()),
    "lbadmin_checker_targets": ("gauge", "Real servers the checker checks.", ()),
    "lbadmin_checker_start_lag_seconds": (
        "gauge", "Cycle lag: the worst delay, over the checker's last second, between a check's due time and its "
                 "start.", ()),
    "lbadmin_checker_alarm": ("gauge", "1 when checks are configured and none produced a result for three intervals.", ()),
    "lbadmin_check_latency_seconds": ("gauge", "Quantiles of the latency of each checked real server's latest check.",
                                      ("quantile",)),
    "lbadmin_scrape_section_ok": ("gauge", "0 when a part of this scrape failed (the web's log says why).", ("section",)),
}

CHECKER_LEASE_SECONDS = 5.0


# The families as the writer holds them, their names checked here, at import.
FAMILIES: dict[str, Family] = {name: Family(name, kind, text, labels) for name, (kind, text, labels) in METRICS.items()}


class Families:
    """The samples of one scrape, per family of METRICS: label values -> value.

    Plain dicts of tuples, not prometheus_client's families: 39,000 samples at 1,000
    services x 8 real servers, and a sample object each was a third of the scrape's time.
    A loop over many samples adds to `rows[name]` directly, as add() does.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in METRICS}

    def add(self, name: str, value: float, *labels: str) -> None:
        # The same labels twice would make the exposition invalid (a kernel holding an
        # IPv4 and an IPv6 firewall-mark service with the same mark): the first one wins.
        self.rows[name].setdefault(labels, value)

    def exposition(self) -> bytes:
        """The text format 0.0.4, as prometheus_client's generate_latest writes it."""
        return generate((FAMILIES[name], rows) for name, rows in self.rows.items())

    def metrics(self) -> Iterator[Metric]:
        """The same samples as prometheus_client's families (what tests compare with)."""
        for name, rows in self.rows.items():
            kind, text, labels = METRICS[name]
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = cls(name, text, labels=list(labels))
            for key, value in rows.items():
                family.add_metric(list(key), value)
            yield family


def service_labels(kind: str, address: str, port: int, fwmark: int) -> tuple[str, str, str, str]:
    """node_exporter's spelling: proto TCP/UDP/SCTP, or FWM with the mark and no address."""
    if kind == "fwmark":
        return ("", "0", "FWM", str(fwmark))
    return (address, str(port), kind.upper(), "")


def key_labels(key: ipvs.ServiceKey) -> tuple[str, str, str, str]:
    return service_labels(key.kind, key.address, key.port, key.fwmark)


@dataclass
class RedisReading:
    """What one scrape read from Redis, in one round trip."""
    error: str = ""
    snapshots: dict[int, dict | None] = field(default_factory=dict)
    checker: dict[str, str] = field(default_factory=dict)
    last_result: float | None = None
    latencies: list[float] = field(default_factory=list)


# Each real server's latest latency, the third field of its latest result ("time|ok|ms|
# reason", virtualservers.health_facts), in one reply: 8,000 replies of HVALS cost this
# process 9 ms to parse at 1,000 x 8, this script 1 ms (and Redis 2.5 ms, not 0.4).
LATENCIES_SCRIPT = """
local found = {}
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  found[#found + 1] = string.match(value, '^[^|]*|[^|]*|([^|]*)')
end
return table.concat(found, '|')
"""


def read_redis(directors: list[Director]) -> RedisReading:
    outage = redis_outage()
    if outage is not None:
        return RedisReading(error=outage.reason)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for director in directors:
            pipe.get(SNAPSHOT_KEY.format(director.pk))
        pipe.hgetall(CHECKER_KEY)
        pipe.get(LAST_RESULT_KEY)
        pipe.eval(LATENCIES_SCRIPT, 1, LAST_KEY)
        *snapshots, checker, last_result, latencies = pipe.execute()
    except Exception as exc:
        note_failure(exc)
        return RedisReading(error=f"{type(exc).__name__}: {exc}")
    reading = RedisReading(checker=checker or {}, last_result=float(last_result) if last_result else None)
    for director, raw in zip(directors, snapshots):
        reading.snapshots[director.pk] = _json(raw)
    for value in latencies.split("|"):
        try:
            reading.latencies.append(float(value) / 1000.0)
        except ValueError:
            continue  # a malformed result (or none at all: one empty field)
    return reading


def _json(raw: str | None) -> dict | None:
    try:
        return parse_snapshot(raw) if raw else None
    except ValueError:
        return None


def live_families(out: Families, directors: list[Director], reading: RedisReading, now: float) -> None:
    limit = STALE_POLLS * poll_interval()
    for director in directors:
        snapshot = reading.snapshots.get(director.pk)
        if snapshot is None:
            out.add("lbadmin_live_data_stale", 1, director.name)
            continue
        age = max(0.0, now - float(snapshot.get("time", 0)))
        out.add("lbadmin_live_data_age_seconds", age, director.name)
        out.add("lbadmin_live_data_stale", int(age > limit), director.name)
        if age > limit:
            continue
        out.add("lbadmin_director_reachable", int(bool(snapshot.get("ok"))), director.name)
        if snapshot.get("ok"):
            out.add("lbadmin_director_drift", int(drifted(director, snapshot.get("table", ""))), director.name)
            kernel_families(out, director.name, snapshot)


KERNEL_COUNTERS = (("lbadmin_ipvs_connections", "conns"), ("lbadmin_ipvs_incoming_packets", "inpkts"),
                   ("lbadmin_ipvs_outgoing_packets", "outpkts"), ("lbadmin_ipvs_incoming_bytes", "inbytes"),
                   ("lbadmin_ipvs_outgoing_bytes", "outbytes"))


def kernel_families(out: Families, director: str, snapshot: dict) -> None:
    counters = [(out.rows[name], key) for name, key in KERNEL_COUNTERS]
    active = out.rows["lbadmin_ipvs_backend_connections_active"]
    inactive = out.rows["lbadmin_ipvs_backend_connections_inactive"]
    weight = out.rows["lbadmin_ipvs_backend_weight"]
    for service in snapshot.get("services", []):
        if "kind" not in service:
            continue  # written by a poller older than these metrics: the next poll has it
        labels = (director, *service_labels(service["kind"], service["address"], service["port"], service["fwmark"]))
        for rows, key in counters:
            rows.setdefault(labels, service.get(key, 0))
        for dest in service["destinations"]:
            backend = (*labels, dest["address"], str(dest["port"]))
            active.setdefault(backend, dest["active"])
            inactive.setdefault(backend, dest["inactive"])
            weight.setdefault(backend, dest["weight"])


def director_families(out: Families, directors: list[Director]) -> None:
    for director in directors:
        if director.group_id is not None:
            state = _vrrp_word(director.vrrp_state)
            for word in VRRP_STATES:
                out.add("lbadmin_director_vrrp_state", int(word == state), director.name, word)
    finished = ApplyRun.objects.filter(director=OuterRef("pk"), finished_at__isnull=False).order_by("-finished_at", "-id")
    latest = Director.objects.filter(pk__in=[d.pk for d in directors]).annotate(run=Subquery(finished.values("pk")[:1]))
    runs = {run.director_id: run for run in ApplyRun.objects.filter(pk__in=latest.exclude(run=None).values("run"))}
    for director in directors:
        run = runs.get(director.pk)
        if run is None:
            continue
        for result in APPLY_RESULTS:
            out.add("lbadmin_director_last_apply_result", int(run.result == result), director.name, str(result))
        if run.duration_ms is not None:
            out.add("lbadmin_director_last_apply_duration_seconds", run.duration_ms / 1000.0, director.name)
        out.add("lbadmin_director_last_apply_timestamp_seconds", run.finished_at.timestamp(), director.name)


def _vrrp_word(state: str) -> str:
    state = (state or "").upper()
    if state in ("MASTER", "BACKUP", "FAULT"):
        return state.lower()
    return "stopped" if state in ("STOP", "STOPPED", "DELETED") else "unknown"


def configuration_families(out: Families) -> None:
    # Rows of the columns needed, not model instances: 9,000 instances at 1,000 x 8 were
    # a quarter of the scrape. key_of and destination_port read the row's fields.
    network = ClusterSettings.load().network
    info, active = out.rows["lbadmin_virtual_server_info"], out.rows["lbadmin_virtual_server_active"]
    state = out.rows["lbadmin_real_server_state"]
    servers = {}
    for vs in VirtualServer.objects.values_list("pk", "name", "active", "protocol", "address", "port", "fwmark",
                                                "forwarding", named=True):
        labels = key_labels(key_of(vs.protocol, vs.address, vs.port, vs.fwmark))
        # VirtualServer.effective_forwarding, on the row (tests/test_metrics_exposition.py
        # compares the ports with the models' own reading).
        servers[vs.pk] = (vs, labels, vs.forwarding or network)
        info.setdefault((*labels, vs.name), 1)
        active.setdefault(labels, int(vs.active))
    # The address as stored, without IPAddressField's conversion of each row (6 ms of
    # 8,000): normalize_address gives the same text from any spelling of an address.
    stored_address = ExpressionWrapper(F("address"), output_field=CharField())
    for vs_id, address, port, name, health, admin_state, forwarding in RealServer.objects.values_list(
            "virtual_server_id", stored_address, "port", "name", "health", "admin_state", "forwarding"):
        if vs_id not in servers:
            continue  # its virtual server came after the read above: the next scrape has both
        vs, labels, vs_forwarding = servers[vs_id]
        port = destination_port(vs, port, IPVS_FORWARDING[forwarding or vs_forwarding])  # RealServer.effective_forwarding
        state.setdefault((*labels, ipvs.normalize_address(address)[0], str(port), name, health or "unknown",
                          admin_state), 1)


def checker_families(out: Families, reading: RedisReading, now: float) -> None:
    status = reading.checker
    renewed = _float(status.get("renewed"))
    out.add("lbadmin_checker_up", int(renewed is not None and now - renewed <= CHECKER_LEASE_SECONDS))
    if renewed is not None:
        out.add("lbadmin_checker_last_round_timestamp_seconds", renewed)
    for name, key in (("lbadmin_checker_results", "results"), ("lbadmin_checker_transitions", "transitions"),
                      ("lbadmin_checker_targets", "targets")):
        if _float(status.get(key)) is not None:
            out.add(name, _float(status[key]))
    if _float(status.get("lag_ms")) is not None:
        out.add("lbadmin_checker_start_lag_seconds", _float(status["lag_ms"]) / 1000.0)
    if reading.last_result is not None:
        out.add("lbadmin_checker_last_result_timestamp_seconds", reading.last_result)
    out.add("lbadmin_checker_alarm", int(checker_alarm(now) is not None))
    latencies = sorted(reading.latencies)
    for q in LATENCY_QUANTILES if latencies else ():
        out.add("lbadmin_check_latency_seconds", latencies[min(len(latencies) - 1, int(q * len(latencies)))], f"{q:g}")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def scrape() -> Families:
    """Everything /metrics says, read now."""
    now = time.time()
    out = Families()
    directors = list(Director.objects.filter(enabled=True))
    reading = read_redis(directors)
    out.add("lbadmin_redis_up", int(not reading.error))
    out.add("lbadmin_live_poll_interval_seconds", poll_interval())
    sections = [("directors", lambda: director_families(out, directors)),
                ("configuration", lambda: configuration_families(out))]
    if not reading.error:
        sections += [("live", lambda: live_families(out, directors, reading, now)),
                     ("checker", lambda: checker_families(out, reading, now))]
    else:
        for director in directors:
            out.add("lbadmin_live_data_stale", 1, director.name)
    for section, run in sections:
        try:
            run()
        except Exception:  # one broken part must not take the others (or the scrape) down
            log.exception("/metrics: the %s section failed", section)
            out.add("lbadmin_scrape_section_ok", 0, section)
        else:
            out.add("lbadmin_scrape_section_ok", 1, section)
    return out
