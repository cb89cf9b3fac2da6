"""The history on the real stack: the product's own Celery worker and beat poll the lab
director (real IPVS) every 2 s and sample its counters every 10 s; traffic from the lab
client through the VIP makes the recorded connections rise, in the store and on the panel."""
import math
import re
import time

import pytest
from django.urls import reverse

from lab import topology
from lbadmin.management.commands.lab import register_lab_director
from monitoring.history import SeriesRef, read_fine
from tests.databases import database_url
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from tests.processes import celery_process, wait_for
from tests.test_lab_engine import add_virtual_server
from virtualservers.models import HealthCheck

pytestmark = pytest.mark.lab
VIP = topology.VIP_POOL_V4[2]


def latest(ref: SeriesRef, name: str) -> float | None:
    now = int(time.time())
    values = [v for v in read_fine(ref, now - 600, now + 10).columns[name] if not math.isnan(v)]
    return values[-1] if values else None


# SQLite only: what is proven here is the path from the kernel through the worker and beat;
# the history's database code runs on both databases in tests/test_history.py.
@pytest.mark.only_database("sqlite")
@pytest.mark.django_db(transaction=True)
def test_traffic_from_the_lab_client_makes_the_recorded_connections_rise(clean_lab_vm, client_for, make_user,
                                                                        redis_url, empty_redis, tmp_path):
    register_lab_director(clean_lab_vm)
    admin = client_for(make_user("admin", username="ops"))
    vs = add_virtual_server(admin, "web", VIP, 80, 0, forwarding="nat")
    # No health checks: from this host the lab's real servers are unreachable, and here
    # only the counters matter.
    HealthCheck.objects.filter(virtual_server=vs).update(check_type="none")
    service, rs1 = SeriesRef.of_virtual(vs), SeriesRef.of_real(vs.real_servers.get(name="rs1"))
    env = {"DATABASE_URL": database_url()}
    with celery_process("worker", redis_url, tmp_path, **env), \
            celery_process("beat", redis_url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **env):
        wait_for(lambda: VIP in clean_lab_vm.ipvsadm_save() and clean_lab_vm.ipvsadm_save().count("-a ") == 2,
                 90, interval=1, what="the worker to converge the director")
        wait_for(lambda: latest(service, "inactive") is not None, 40, interval=1, what="a first sample of the service")
        before = latest(service, "active") + latest(service, "inactive")
        assert set(clean_lab_vm.http_from_client(VIP, 80, n=20)) == {"rs1", "rs2"}
        # Closed connections stay in the kernel's table as inactive (TIME_WAIT) for a while.
        wait_for(lambda: latest(service, "active") + latest(service, "inactive") >= before + 10, 40, interval=1,
                 what="the recorded connections to rise")
        assert latest(rs1, "inactive") >= 1
        page = admin.get(reverse("history_virtual", args=[vs.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "No data since" not in page
    shown = re.search(r'<span class="key inactive">inactive</span> <span class="muted">now (\d+)', page)
    assert shown and int(shown.group(1)) >= 10, page[:3000]
