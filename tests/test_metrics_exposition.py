"""/metrics's own writer (monitoring.exposition) against prometheus_client, the oracle: the
bytes are generate_latest's for the same families, and its parser reads back the same
samples; for a rich scrape (label values with quotes, backslashes, newlines and non-ASCII,
IPv6, firewall marks, a duplicate kernel series, every forwarding) and for the writer's
edge cases (values Go spells its own way, -0.0 beside 0, labels given out of order)."""
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from lbadmin.models import ClusterSettings, Director, RedundancyGroup
from lbadmin.redis_client import get_redis
from monitoring import metrics, metrics_views
from monitoring.checker_alarm import CHECKER_KEY
from monitoring.exposition import Family, generate
from monitoring.health_counter import LAST_RESULT_KEY
from monitoring.live_poller import SNAPSHOT_KEY
from tests import factories
from tests.metrics_kernel import Dest, Service, poll, save_text
from virtualservers import ipvs
from virtualservers.desired import IPVS_FORWARDING, destination_port
from virtualservers.health_facts import LAST_KEY, encode_last_result
from virtualservers.models import ApplyRun, RealServer

ODD_NAME = 'lb "east" \\ öst\nzwei'  # every character the text format escapes, and UTF-8


class Fixed:
    """A collector that yields the given prometheus_client families."""

    def __init__(self, families) -> None:
        self.families = list(families)

    def collect(self):
        return iter(self.families)


def oracle(families) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families))
    return generate_latest(registry)


def parsed(text: str) -> set:
    return {(s.name, frozenset(s.labels.items()), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}


# The writer alone ------------------------------------------------------------------------

EDGE_VALUES = [0, -0.0, 0.0, 1, True, 7, 999999, 1000000, 123456789, 10**20, 0.1 + 0.2, 1e-9, -2.5, 1.5e300,
               float("inf"), float("-inf"), float("nan")]


def edge_families():
    """(Family, rows, prometheus_client family) of every shape the writer handles."""
    shapes = [("t_plain", "gauge", "No labels.", ()),
              ("t_one", "counter", "One label, a help text with a \\ and a\nnewline.", ("only",)),
              ("t_sorted", "gauge", "Labels given in name order.", ("a", "b")),
              ("t_unsorted", "gauge", "Labels given out of order.", ("zeta", "alpha", "mid")),
              ("t_unsorted_too", "counter", "The same label names, other series.", ("zeta", "alpha", "mid"))]
    texts = ["plain", 'a "quoted" word', "back\\slash", "new\nline", "ünïcödé ✓", "", "\\n literally", '\\"']
    built = []
    for name, kind, documentation, labels in shapes:
        rows = {}
        for i, value in enumerate(EDGE_VALUES if not labels else EDGE_VALUES * 2):
            key = tuple(f"{texts[(i + j) % len(texts)]}{i}" for j in range(len(labels)))
            rows.setdefault(key, value)
            if not labels:
                break
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        theirs = cls(name, documentation, labels=list(labels))
        for key, value in rows.items():
            theirs.add_metric(list(key), value)
        built.append((Family(name, kind, documentation, labels), rows, theirs))
    for value in EDGE_VALUES[1:]:  # the plain gauge once per value: its only series
        family = Family("t_plain", "gauge", "No labels.", ())
        theirs = GaugeMetricFamily("t_plain", "No labels.", labels=[])
        theirs.add_metric([], value)
        built.append((family, {(): value}, theirs))
    return built


def test_the_writer_writes_generate_latests_bytes_for_every_shape_and_value():
    built = edge_families()
    assert generate((family, rows) for family, rows, _ in built) == oracle(theirs for _, _, theirs in built)


def test_a_shared_label_set_keeps_each_familys_own_series_and_values():
    labels = ("director", "remote_address")
    first, second = Family("t_first", "gauge", "First.", labels), Family("t_second", "gauge", "Second.", labels)
    rows_first = {("a", "1"): 1, ('q"', "2"): 2}
    rows_second = {('q"', "2"): 5, ("b\n", "3"): -0.0, ("a", "1"): 0}
    ours = generate([(first, rows_first), (second, rows_second)])
    theirs = []
    for name, rows in (("t_first", rows_first), ("t_second", rows_second)):
        family = GaugeMetricFamily(name, name[2:].capitalize() + ".", labels=list(labels))
        for key, value in rows.items():
            family.add_metric(list(key), value)
        theirs.append(family)
    assert ours == oracle(theirs)


@pytest.mark.parametrize("name, kind, labels", [
    ("t-dash", "gauge", ()), ("9lives", "gauge", ()), ("t_x", "gauge", ("bad-label",)), ("t_x", "gauge", ("__reserved",)),
    ("t_x", "gauge", ("ünï",)), ("t_x", "gauge", ("a", "a")), ("t_done_total", "counter", ()), ("t_x", "summary", ())])
def test_a_family_with_a_name_the_writer_cannot_write_as_is_is_refused(name, kind, labels):
    with pytest.raises(ValueError):
        Family(name, kind, "Help.", labels)


def test_every_family_of_metrics_is_declared_to_the_writer():
    assert set(metrics.FAMILIES) == set(metrics.METRICS)


# A whole scrape ------------------------------------------------------------------------

@pytest.fixture
def rich(monkeypatch, db):
    """A configuration and a live state with every kind of series, some of them odd."""
    get_redis().flushdb()
    ClusterSettings.objects.update_or_create(pk=1, defaults={"network": "nat"})
    web = factories.virtual_server(name="web", address="192.0.2.50", port=80, persistent=0, pmask="", active=True)
    factories.real_server(web, name="web1", address="10.0.0.1", admin_state="enabled")
    factories.real_server(web, name="web2", address="10.0.0.2", port=8080, forwarding="nat", admin_state="draining")
    dns = factories.virtual_server(name="dns6", address="2001:db8::53", port=53, protocol="udp", persistent=0,
                                   pmask="", vip_nmask="128", forwarding="", active=True)
    factories.real_server(dns, name="ns1", address="2001:db8:0:0::1", port=5353, admin_state="enabled")
    factories.real_server(dns, name="ns2", address="2001:db8::2", forwarding="direct", port=5353, admin_state="disabled")
    marked = factories.virtual_server(name="marked", address="192.0.2.60", port=1, fwmark=7, persistent=0, pmask="",
                                      active=False)
    factories.real_server(marked, name="m1", address="10.0.1.1", admin_state="enabled")
    RealServer.objects.filter(name="web1").update(health="up")
    RealServer.objects.filter(name="ns1").update(health="down")
    group = RedundancyGroup.objects.create(name="edge")
    odd = factories.director(ODD_NAME, group=group)
    Director.objects.filter(pk=odd.pk).update(vrrp_state="BACKUP", applied_table="-A -t 192.0.2.50:80 -s wlc\n")
    odd.refresh_from_db()
    plain = factories.director("lb2")
    kernel = [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80, weight=3, active=12, inactive=3),
                                               Dest("10.0.0.2", 8080, weight=0, active=1, forwarding="masq")],
                      stats=(1234, 5678, 4567, 987654, 12345678901)),
              Service("2001:db8::53", 53, proto="udp", dests=[Dest("2001:db8::1", 5353, forwarding="masq")])]
    monkeypatch.setattr("monitoring.live_poller.poll_vrrp", lambda d, e: {"state": "BACKUP"})
    poll(monkeypatch, odd, kernel)
    poll(monkeypatch, plain, kernel[:1])
    # Firewall-mark services as the poller writes them, an IPv4 and an IPv6 one with the
    # same mark: the same series twice, of which the first is served.
    key = SNAPSHOT_KEY.format(odd.pk)
    snapshot = json.loads(get_redis().get(key))
    for family, address in ((4, "10.0.1.1"), (6, "2001:db8::7")):
        snapshot["services"].append({"kind": "fwmark", "address": "", "port": 0, "fwmark": 7, "family": family,
                                     "conns": family, "inpkts": 0, "outpkts": 0, "inbytes": 0, "outbytes": 0,
                                     "destinations": [{"address": "10.0.1.1" if family == 4 else address, "port": 0,
                                                       "active": family, "inactive": 0, "weight": 1}]})
    get_redis().set(key, json.dumps(snapshot))
    now = timezone.now()
    ApplyRun.objects.create(director=odd, trigger="edit", result="ok", started_at=now - timedelta(seconds=2),
                            finished_at=now, duration_ms=1234)
    stamp = time.time()
    get_redis().hset(CHECKER_KEY, mapping={"renewed": stamp, "results": 10**12, "transitions": 0, "targets": 5,
                                           "lag_ms": "0.5"})
    get_redis().set(LAST_RESULT_KEY, stamp)
    ids = list(RealServer.objects.order_by("pk").values_list("pk", flat=True))
    get_redis().hset(LAST_KEY, mapping={pk: encode_last_result(stamp, True, 0.25 * n, "a reason | with a bar")
                                        for n, pk in enumerate(ids)})


@pytest.fixture
def scraped(client, monkeypatch, rich):
    """(the response's text, the Families the view wrote it from)."""
    seen = []

    def recording():
        seen.append(metrics.scrape())
        return seen[-1]

    monkeypatch.setattr(metrics_views, "scrape", recording)
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content, seen[0]


def test_the_scrape_is_generate_latests_bytes_for_the_same_families(scraped):
    content, families = scraped
    assert content == oracle(families.metrics())
    assert ODD_NAME.encode() not in content and b'director="lb \\"east\\" \\\\ \xc3\xb6st\\nzwei"' in content


def test_the_scrape_parses_back_to_the_same_samples(scraped):
    content, families = scraped
    expected = set()
    for name, rows in families.rows.items():
        kind, _, labels = metrics.METRICS[name]
        sample = name + "_total" if kind == "counter" else name
        expected |= {(sample, frozenset(zip(labels, key)), float(value)) for key, value in rows.items()}
    assert parsed(content.decode()) == expected
    assert len(expected) == sum(len(rows) for rows in families.rows.values())  # every series once
    marked = [s for s in expected if s[0] == "lbadmin_ipvs_connections_total" and ("proto", "FWM") in s[1]]
    assert [value for _, _, value in marked] == [4.0]  # the first of the two firewall-mark services
    assert any(s[0] == "lbadmin_check_latency_seconds" for s in expected)


def test_each_real_servers_port_is_the_one_the_models_give(scraped):
    content, _ = scraped
    served = {(dict(labels)["name"], dict(labels)["remote_address"], dict(labels)["remote_port"])
              for name, labels, _ in parsed(content.decode()) if name == "lbadmin_real_server_state"}
    cluster = ClusterSettings.load()
    wanted = {(rs.name, ipvs.normalize_address(rs.address)[0],
               str(destination_port(rs.virtual_server, rs.port, IPVS_FORWARDING[rs.effective_forwarding(cluster)])))
              for rs in RealServer.objects.select_related("virtual_server")}
    assert served == wanted
    assert ("web2", "10.0.0.2", "8080") in served and ("ns2", "2001:db8::2", "53") in served  # NAT keeps, DR forces


def test_drift_follows_the_kernels_table_from_one_scrape_to_the_next(client, monkeypatch, db):
    get_redis().flushdb()
    director = factories.director("lb1")
    kernel = [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80), Dest("10.0.0.2", 80)])]
    Director.objects.filter(pk=director.pk).update(applied_table=save_text(kernel))
    director.refresh_from_db()

    def drift() -> float:
        found = [value for name, labels, value in parsed(client.get("/metrics").content.decode())
                 if name == "lbadmin_director_drift"]
        return found[0]

    poll(monkeypatch, director, kernel)
    assert drift() == 0
    poll(monkeypatch, director, [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80)])])
    assert drift() == 1
    poll(monkeypatch, director, kernel)
    assert drift() == 0
