"""The Grafana dashboard and the scrape example in deploy/ match what /metrics emits: every
query of the dashboard names only metrics that a scrape of a populated installation holds."""
import json
import re
import time
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from lbadmin.models import Director, RedundancyGroup
from lbadmin.redis_client import get_redis
from monitoring.checker_alarm import CHECKER_KEY
from monitoring.health_counter import LAST_RESULT_KEY
from monitoring.metrics import METRICS
from tests import factories
from tests.metrics_kernel import Dest, Service, poll
from virtualservers.health_facts import LAST_KEY, encode_last_result
from virtualservers.models import ApplyRun

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "lbadmin.json"
METRIC_NAME = re.compile(r"\blbadmin_[A-Za-z0-9_]+")


def queries(node) -> list[str]:
    """Every PromQL text in the dashboard: panel targets and template variables."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(queries(item))
    return found


@pytest.fixture
def emitted(client, monkeypatch, db) -> set[str]:
    """The sample names of a scrape where every kind of fact exists."""
    get_redis().flushdb()
    vs = factories.virtual_server(name="web", address="192.0.2.50", port=80, active=True)
    rs = factories.real_server(vs, name="web1", address="10.0.0.1", admin_state="enabled")
    group = RedundancyGroup.objects.create(name="edge")
    director = factories.director("lb1", group=group)
    Director.objects.filter(pk=director.pk).update(vrrp_state="MASTER")
    monkeypatch.setattr("monitoring.live_poller.poll_vrrp", lambda d, e: {"state": "MASTER"})
    poll(monkeypatch, director, [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80, active=3)])])
    ApplyRun.objects.create(director=director, trigger="edit", result="ok", finished_at=timezone.now(), duration_ms=900)
    now = time.time()
    get_redis().hset(CHECKER_KEY, mapping={"renewed": now, "results": 9, "transitions": 1, "targets": 1, "lag_ms": 3})
    get_redis().set(LAST_RESULT_KEY, now)
    get_redis().hset(LAST_KEY, rs.pk, encode_last_result(now, True, 1.5, "connected"))
    text = client.get("/metrics").content.decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_dashboard_query_names_only_metrics_the_exporter_emits(emitted):
    texts = queries(json.loads(DASHBOARD.read_text()))
    assert len(texts) > 10
    for text in texts:
        names = set(METRIC_NAME.findall(text))
        assert names, f"a query without an lbadmin metric: {text}"
        assert names <= emitted, f"{sorted(names - emitted)} in {text!r} are not emitted"


def test_the_dashboard_shows_real_servers_health_directors_and_the_checker():
    used = {name for text in queries(json.loads(DASHBOARD.read_text())) for name in METRIC_NAME.findall(text)}
    for needed in ("lbadmin_ipvs_backend_connections_active", "lbadmin_real_server_state", "lbadmin_director_drift",
                   "lbadmin_director_last_apply_result", "lbadmin_checker_start_lag_seconds"):
        assert needed in used


def test_every_metric_of_the_table_is_emitted(emitted):
    for name, (kind, _, _) in METRICS.items():
        assert (f"{name}_total" if kind == "counter" else name) in emitted, name


def test_the_scrape_example_uses_a_bearer_token_over_https():
    # No YAML parser among the dependencies: the lines that matter, read as text.
    lines = {line.strip() for line in (ROOT / "deploy" / "prometheus" / "scrape.yml").read_text().splitlines()}
    for line in ("metrics_path: /metrics", "scheme: https", "type: Bearer"):
        assert line in lines, line
    assert any(line.startswith("credentials_file: /") for line in lines)
