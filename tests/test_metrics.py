"""/metrics: what it says, from the live snapshot (written by the poller) and the database;
stale or missing data said as such; Redis down is a metric, not an error; who may scrape."""
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from lbadmin import api_tokens
from lbadmin.models import Director, RedundancyGroup
from lbadmin.redis_client import get_redis
from monitoring.checker_alarm import CHECKER_KEY
from monitoring.health_counter import LAST_RESULT_KEY
from monitoring.live_poller import SNAPSHOT_KEY
from monitoring.live_table import STALE_POLLS, poll_interval
from tests import factories
from tests.metrics_kernel import Dest, Service, poll
from tests.redis_outage import own_redis  # noqa: F401
from virtualservers.health_facts import LAST_KEY, encode_last_result
from virtualservers.models import ApplyRun, RealServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_redis():
    get_redis().flushdb()
    yield


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def value(text: str, metric: str, **labels) -> float | None:
    found = [s.value for s in samples(text) if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (metric, labels, found)
    return found[0] if found else None


@pytest.fixture
def world():
    vs = factories.virtual_server(name="web", address="192.0.2.50", port=80, persistent=0, pmask="", active=True)
    factories.real_server(vs, name="web1", address="10.0.0.1", admin_state="enabled")
    factories.real_server(vs, name="web2", address="10.0.0.2", admin_state="draining")
    RealServer.objects.filter(name="web1").update(health="up", health_reason="a reason text with secrets")
    director = factories.director("lb1")
    kernel = [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80, weight=1, active=12, inactive=3),
                                               Dest("10.0.0.2", 80, weight=0, active=1, inactive=40)],
                      stats=(1234, 5678, 4567, 987654, 123456789))]
    return director, kernel


def test_it_serves_the_kernel_numbers_with_node_exporters_label_names(client, monkeypatch, world):
    director, kernel = world
    poll(monkeypatch, director, kernel)
    text = scrape(client)
    web1 = dict(director="lb1", local_address="192.0.2.50", local_port="80", proto="TCP", local_mark="",
                remote_address="10.0.0.1", remote_port="80")
    assert value(text, "lbadmin_ipvs_backend_connections_active", **web1) == 12
    assert value(text, "lbadmin_ipvs_backend_connections_inactive", **web1) == 3
    assert value(text, "lbadmin_ipvs_backend_weight", **web1) == 1
    assert value(text, "lbadmin_ipvs_backend_weight", **{**web1, "remote_address": "10.0.0.2"}) == 0
    service = dict(director="lb1", local_address="192.0.2.50", local_port="80", proto="TCP", local_mark="")
    assert value(text, "lbadmin_ipvs_connections_total", **service) == 1234
    assert value(text, "lbadmin_ipvs_incoming_packets_total", **service) == 5678
    assert value(text, "lbadmin_ipvs_outgoing_packets_total", **service) == 4567
    assert value(text, "lbadmin_ipvs_incoming_bytes_total", **service) == 987654
    assert value(text, "lbadmin_ipvs_outgoing_bytes_total", **service) == 123456789
    assert value(text, "lbadmin_director_reachable", director="lb1") == 1
    assert value(text, "lbadmin_live_data_stale", director="lb1") == 0
    assert 0 <= value(text, "lbadmin_live_data_age_seconds", director="lb1") < 5
    assert value(text, "lbadmin_redis_up") == 1


def test_health_admin_state_and_names_come_from_the_database(client, monkeypatch, world):
    director, kernel = world
    poll(monkeypatch, director, kernel)
    text = scrape(client)
    assert value(text, "lbadmin_real_server_state", remote_address="10.0.0.1", remote_port="80", name="web1",
                 health="up", admin_state="enabled") == 1
    assert value(text, "lbadmin_real_server_state", remote_address="10.0.0.2", health="unknown",
                 admin_state="draining") == 1
    assert value(text, "lbadmin_virtual_server_info", local_address="192.0.2.50", name="web") == 1
    assert value(text, "lbadmin_virtual_server_active", local_address="192.0.2.50") == 1
    assert "secrets" not in text  # no free text: reasons and errors stay on the pages


def test_a_snapshot_older_than_two_polls_is_not_served_as_current(client, monkeypatch, world):
    director, kernel = world
    poll(monkeypatch, director, kernel)
    key = SNAPSHOT_KEY.format(director.pk)
    snapshot = json.loads(get_redis().get(key))
    snapshot["time"] = time.time() - STALE_POLLS * poll_interval() - 5
    get_redis().set(key, json.dumps(snapshot))
    text = scrape(client)
    assert value(text, "lbadmin_live_data_stale", director="lb1") == 1
    assert value(text, "lbadmin_live_data_age_seconds", director="lb1") > STALE_POLLS * poll_interval()
    assert value(text, "lbadmin_ipvs_backend_connections_active", remote_address="10.0.0.1") is None
    assert value(text, "lbadmin_director_reachable", director="lb1") is None
    assert value(text, "lbadmin_real_server_state", remote_address="10.0.0.1") == 1  # the database's facts stay


def test_a_director_never_read_is_stale(client, world):
    text = scrape(client)
    assert value(text, "lbadmin_live_data_stale", director="lb1") == 1
    assert value(text, "lbadmin_live_data_age_seconds", director="lb1") is None


def test_an_unreachable_director_is_reachable_0_with_no_kernel_numbers(client, world):
    director, _ = world
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(
        {"ok": False, "error": "ssh: connection refused", "services": [], "table": "", "time": time.time(),
         "director": "lb1"}))
    text = scrape(client)
    assert value(text, "lbadmin_director_reachable", director="lb1") == 0
    assert value(text, "lbadmin_live_data_stale", director="lb1") == 0
    assert "refused" not in text


def test_with_redis_down_it_says_so_and_still_serves_the_database(client, monkeypatch, world, own_redis):  # noqa: F811
    director, kernel = world
    poll(monkeypatch, director, kernel)
    own_redis.stop()
    text = scrape(client)
    assert value(text, "lbadmin_redis_up") == 0
    assert value(text, "lbadmin_live_data_stale", director="lb1") == 1
    assert value(text, "lbadmin_ipvs_backend_connections_active", remote_address="10.0.0.1") is None
    assert value(text, "lbadmin_real_server_state", remote_address="10.0.0.1", health="up") == 1
    own_redis.start()


def test_drift_vrrp_state_and_the_last_apply(client, monkeypatch, world):
    director, kernel = world
    group = RedundancyGroup.objects.create(name="edge")
    Director.objects.filter(pk=director.pk).update(group=group, vrrp_state="MASTER",
                                                   applied_table="-A -t 192.0.2.50:80 -s rr\n")
    director.refresh_from_db()
    monkeypatch.setattr("monitoring.live_poller.poll_vrrp", lambda d, e: {"state": "MASTER"})
    poll(monkeypatch, director, kernel)
    now = timezone.now()
    ApplyRun.objects.create(director=director, trigger="old", result="error", started_at=now - timedelta(minutes=5),
                            finished_at=now - timedelta(minutes=5), duration_ms=90000)
    ApplyRun.objects.create(director=director, trigger="edit", result="ok", started_at=now - timedelta(seconds=3),
                            finished_at=now, duration_ms=1500)
    ApplyRun.objects.create(director=director, trigger="next", result="running", started_at=now)
    text = scrape(client)
    assert value(text, "lbadmin_director_drift", director="lb1") == 1
    assert value(text, "lbadmin_director_vrrp_state", director="lb1", state="master") == 1
    assert value(text, "lbadmin_director_vrrp_state", director="lb1", state="backup") == 0
    assert value(text, "lbadmin_director_last_apply_result", director="lb1", result="ok") == 1
    assert value(text, "lbadmin_director_last_apply_result", director="lb1", result="error") == 0
    assert value(text, "lbadmin_director_last_apply_duration_seconds", director="lb1") == 1.5
    assert value(text, "lbadmin_director_last_apply_timestamp_seconds", director="lb1") == pytest.approx(now.timestamp())


def test_in_sync_is_drift_0(client, monkeypatch, world):
    director, kernel = world
    from tests.metrics_kernel import save_text

    Director.objects.filter(pk=director.pk).update(applied_table=save_text(kernel))
    director.refresh_from_db()
    poll(monkeypatch, director, kernel)
    assert value(scrape(client), "lbadmin_director_drift", director="lb1") == 0


def test_the_checkers_own_health(client, world):
    now = time.time()
    redis = get_redis()
    redis.hset(CHECKER_KEY, mapping={"owner": "w:1:x", "since": now - 100, "targets": 2, "results": 500,
                                     "transitions": 3, "renewed": f"{now - 0.5:.3f}", "lag_ms": "12.5"})
    redis.set(LAST_RESULT_KEY, f"{now - 0.2:.3f}")
    rs = list(RealServer.objects.values_list("pk", flat=True))
    redis.hset(LAST_KEY, mapping={rs[0]: encode_last_result(now, True, 2.0, "connected"),
                                  rs[1]: encode_last_result(now, False, 3000.0, "timed out")})
    text = scrape(client)
    assert value(text, "lbadmin_checker_up") == 1
    assert value(text, "lbadmin_checker_results_total") == 500
    assert value(text, "lbadmin_checker_transitions_total") == 3
    assert value(text, "lbadmin_checker_targets") == 2
    assert value(text, "lbadmin_checker_start_lag_seconds") == 0.0125
    assert value(text, "lbadmin_checker_last_round_timestamp_seconds") == pytest.approx(now - 0.5, abs=0.01)
    assert value(text, "lbadmin_checker_last_result_timestamp_seconds") == pytest.approx(now - 0.2, abs=0.01)
    assert value(text, "lbadmin_checker_alarm") == 0
    assert value(text, "lbadmin_check_latency_seconds", quantile="0.5") == 3.0
    assert value(text, "lbadmin_check_latency_seconds", quantile="1") == 3.0


def test_no_checker_is_an_alarm_and_checker_up_0(client, world):
    text = scrape(client)
    assert value(text, "lbadmin_checker_up") == 0
    assert value(text, "lbadmin_checker_alarm") == 1  # active real servers, no result ever


# Access --------------------------------------------------------------------------------

OUTSIDE = {"REMOTE_ADDR": "192.0.2.200"}


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_an_address_outside_the_allow_list_without_a_token_gets_401_and_nothing_else(client, world):
    response = client.get("/metrics", **OUTSIDE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="lbadmin"'
    assert b"lbadmin_" not in response.content


def test_loopback_v4_and_v6_are_allowed_by_default(client, world):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_the_allow_list_is_a_setting(client, settings, world):
    import ipaddress

    settings.LBADMIN_METRICS_ALLOW = [ipaddress.ip_network("192.0.2.0/24")]
    assert client.get("/metrics", **OUTSIDE).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_a_viewers_token_scrapes_from_anywhere(client, make_user, world):
    _, token = api_tokens.issue(make_user("viewer"), "prometheus")
    assert client.get("/metrics", **OUTSIDE, **bearer(token)).status_code == 200


def test_a_token_of_a_user_without_a_role_is_403(client, make_user, world):
    _, token = api_tokens.issue(make_user(None), "prometheus")
    response = client.get("/metrics", **OUTSIDE, **bearer(token))
    assert response.status_code == 403
    assert b"lbadmin_" not in response.content


@pytest.mark.parametrize("spoil", ["revoked", "inactive", "wrong secret", "garbage", "basic"])
def test_a_bad_token_is_401_even_from_an_allowed_address(client, make_user, world, spoil):
    user = make_user("admin")
    row, token = api_tokens.issue(user, "prometheus")
    header = bearer(token)
    if spoil == "revoked":
        api_tokens.revoke(row)
    elif spoil == "inactive":
        user.is_active = False
        user.save()
    elif spoil == "wrong secret":
        header = bearer(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    elif spoil == "garbage":
        header = bearer("not-a-token")
    else:
        header = {"HTTP_AUTHORIZATION": "Basic YWRtaW46YWRtaW4="}
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **header)
    assert response.status_code == 401
    assert b"lbadmin_" not in response.content


def test_it_is_get_only(client, world):
    assert client.post("/metrics").status_code == 405


# Scale ---------------------------------------------------------------------------------

SERVICES, REAL_SERVERS = 1000, 8


def test_1000_services_of_8_real_servers_stay_a_countable_few_series(client, monkeypatch, django_assert_max_num_queries):
    from virtualservers.models import HealthCheck, VirtualServer

    vss = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"vs{i}", address=f"10.1.{i // 250}.{i % 250 + 1}", port=80, protocol="tcp",
                      scheduler="wlc", forwarding="direct", active=True) for i in range(SERVICES))
    HealthCheck.objects.bulk_create(HealthCheck(virtual_server=vs) for vs in vss)
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"rs{j}", address=f"10.2.{j}.{i % 250 + 1}", admin_state="enabled",
                   health="up") for i, vs in enumerate(vss) for j in range(REAL_SERVERS))
    director = factories.director("lb1")
    kernel = [Service(vs.address, 80, scheduler="wlc",
                      dests=[Dest(f"10.2.{j}.{i % 250 + 1}", 80, active=j, inactive=1) for j in range(REAL_SERVERS)])
              for i, vs in enumerate(vss)]
    poll(monkeypatch, director, kernel)
    with django_assert_max_num_queries(10):  # whatever the size: no query per object
        text = scrape(client)
    series = samples(text)
    by_name: dict[str, int] = {}
    for s in series:
        by_name[s.name] = by_name.get(s.name, 0) + 1
    backends = SERVICES * REAL_SERVERS
    # Per real server: 3 from the kernel per director, 1 from the database.
    for name in ("lbadmin_ipvs_backend_connections_active", "lbadmin_ipvs_backend_connections_inactive",
                 "lbadmin_ipvs_backend_weight", "lbadmin_real_server_state"):
        assert by_name[name] == backends, name
    # Per virtual server: 5 counters per director, its name and whether it is active.
    for name in ("lbadmin_ipvs_connections_total", "lbadmin_ipvs_incoming_bytes_total", "lbadmin_virtual_server_info",
                 "lbadmin_virtual_server_active"):
        assert by_name[name] == SERVICES, name
    total = len(series)
    fixed = total - 4 * backends - 7 * SERVICES  # director, checker and scrape facts: a handful
    assert 0 < fixed < 40, fixed
    assert len({(s.name, tuple(sorted(s.labels.items()))) for s in series}) == total  # no duplicate series
    print(f"\n/metrics at {SERVICES} services x {REAL_SERVERS} real servers, one director: {total} series")
