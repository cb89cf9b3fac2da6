"""The whole path with real processes: a change in the web pages is
committed, a real Celery worker reconciles the lab director, the apply shows
its result, and the live table shows the kernel's counters."""
import time

import pytest
from django.urls import reverse

from lbadmin.management.commands.lab import register_lab_director
from lab import topology
from monitoring.live_poller import poll_director
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from tests.databases import database_url
from tests.processes import celery_process, wait_for
from tests.test_lab_engine import add_virtual_server
from virtualservers.models import ApplyRun

pytestmark = pytest.mark.lab
VIP = topology.VIP_POOL_V4[2]


@pytest.mark.django_db(transaction=True)
def test_a_toggle_in_the_page_reaches_the_kernel_through_the_worker(clean_lab_vm, client_for, make_user, redis_url, tmp_path):
    director = register_lab_director(clean_lab_vm)
    admin = client_for(make_user("admin", username="ops"))
    with celery_process("worker", redis_url, tmp_path, DATABASE_URL=database_url()):
        vs = add_virtual_server(admin, "web", VIP, 80, 0, forwarding="nat")
        wait_for(lambda: VIP in clean_lab_vm.ipvsadm_save() and clean_lab_vm.ipvsadm_save().count("-a ") == 2,
                 90, interval=1, what="the worker to converge the director")
        rs1 = vs.real_servers.get(name="rs1")
        response = admin.post(reverse("real_toggle", args=[vs.pk, rs1.pk]), HTTP_HX_REQUEST="true")
        assert response["HX-Trigger"] == "applyQueued"
        wait_for(lambda: topology.REAL_SERVERS["rs1"].ipv4 not in clean_lab_vm.ipvsadm_save(), 60, interval=0.5,
                 what="the deactivation to reach the kernel")
        run = wait_for(lambda: ApplyRun.objects.filter(director=director, result="ok", plan__startswith="-d ").first(),
                       30, what="the apply run to be recorded")
        assert run.duration_ms > 0 and run.finished_at is not None
        panel = admin.get(reverse("control_applies"), HTTP_HX_REQUEST="true").content.decode()
        assert "Applied" in panel and f"-d -t {VIP}:80" in panel
    assert set(clean_lab_vm.http_from_client(VIP, 80, n=4)) == {"rs2"}


@pytest.mark.django_db
def test_the_live_table_shows_counters_names_and_drift(clean_lab_vm, client_for, make_user, redis_url):
    from virtualservers.reconcile import reconcile_director

    director = register_lab_director(clean_lab_vm)
    admin = client_for(make_user("admin", username="ops"))
    add_virtual_server(admin, "web", VIP, 80, 0, forwarding="nat")
    reconcile_director(director.pk, trigger="test")
    clean_lab_vm.http_from_client(VIP, 80, n=10)
    time.sleep(2.5)  # the kernel's rate estimator refreshes every 2 s
    poll_director(director)
    time.sleep(0.5)
    snapshot = poll_director(director)
    assert snapshot["ok"], snapshot["error"]
    dests = {d["address"]: d for s in snapshot["services"] for d in s["destinations"]}
    assert sum(d["conns"] for d in dests.values()) >= 10
    # A hand-made extra server shows up as not desired.
    clean_lab_vm.check(["ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{topology.REAL_SERVERS['rs3'].ipv4}:80", "-m"])
    poll_director(director)
    page = admin.get(reverse("control_live"), {"interval": "2"}, HTTP_HX_REQUEST="true").content.decode()
    assert f"TCP  {VIP}:80" in page and "rs1" in page and "rs2" in page
    assert "not desired" in page and "<svg" in page
    assert 'hx-trigger="every 2s"' in page
