"""The list pages render with a fixed number of queries, however many virtual and real
servers there are: 1,000 virtual servers with 8 real servers each (the bench's table)."""
import json
import time

import pytest

from lbadmin.models import AuditEntry, Director
from lbadmin.redis_client import get_redis
from monitoring.live_poller import SNAPSHOT_KEY
from virtualservers import ipvs
from virtualservers.desired import desired_table
from virtualservers.models import HealthCheck, RealServer, VirtualServer

SERVICES, PER_SERVICE = 1000, 8


@pytest.fixture
def big_table(db):
    servers = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"vs{n:04d}", active=True, address=f"10.1.{n // 250}.{n % 250 + 1}", port=80,
                      scheduler="wlc", protocol="tcp")
        for n in range(SERVICES))
    HealthCheck.objects.bulk_create(HealthCheck(virtual_server=vs, check_type="http") for vs in servers)
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"rs{k}", address=f"10.2.{n // 250}.{n % 250 + 1}", port=8000 + k,
                   admin_state="enabled", health="up", weight=k + 1)
        for n, vs in enumerate(servers) for k in range(PER_SERVICE))
    AuditEntry.objects.bulk_create(AuditEntry(action="update", object_type="VirtualServer", username="x")
                                   for _ in range(300))
    director = Director.objects.create(name="lab", address="127.0.0.1", transport="local")
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot_of(desired_table(director))))
    yield servers
    get_redis().delete(SNAPSHOT_KEY.format(director.pk))


def snapshot_of(table: ipvs.Table) -> dict:
    """What the live poller stores for a kernel holding exactly `table` (no traffic)."""
    services = [{"key": str(key), "label": key.label, "scheduler": s.scheduler, "persistent": s.persistent,
                 "netmask": s.netmask, "cps": 0,
                 "destinations": [{"id": f"{key}|{d.endpoint}", "address": d.address, "port": d.port,
                                   "endpoint": d.endpoint, "forwarding": d.forwarding, "weight": d.weight,
                                   "active": 0, "inactive": 0, "conns": 0, "cps": 0, "inpps": 0, "outpps": 0,
                                   "inbps": 0, "outbps": 0} for d in s.destinations.sorted()]}
                for key, s in sorted(table.items(), key=lambda kv: kv[0].sort_key())]
    return {"ok": True, "error": "", "services": services, "table": ipvs.render(table), "took_ms": 1.0,
            "time": time.time(), "director": "lab"}


@pytest.mark.django_db
@pytest.mark.parametrize("url, most, shows", [
    # A page at a time (VIRTUAL SERVERS, REAL SERVERS, the live table); the filter finds the last one.
    ("/virtual/?q=vs0999", 9, "vs0999"),
    ("/control/?q=vs0999", 24, "10.1.3.250:80"),
    ("/control/live/?q=10.2.3.250", 20, "10.1.3.250:80"),
    ("/audit/", 8, "VirtualServer"),
    ("/directors/", 6, "lab"),
    ("/hosts/?q=10.2.3.250", 9, "10.2.3.250"),
])
def test_a_list_page_needs_few_queries_whatever_the_size(client_for, admin_user, big_table, url, most, shows,
                                                          django_assert_max_num_queries):
    client = client_for(admin_user)
    with django_assert_max_num_queries(most):
        response = client.get(url, HTTP_HX_REQUEST="true") if "/live/" in url else client.get(url)
    assert response.status_code == 200
    assert shows in response.content.decode()


@pytest.mark.django_db
def test_the_real_server_list_needs_few_queries(client_for, admin_user, big_table, django_assert_max_num_queries):
    client = client_for(admin_user)
    with django_assert_max_num_queries(9):
        response = client.get(f"/virtual/{big_table[500].pk}/real/")
    assert response.status_code == 200
    assert response.content.decode().count('id="rs-') == PER_SERVICE
