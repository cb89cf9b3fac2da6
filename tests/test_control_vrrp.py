"""CONTROL/MONITORING's VRRP panel, from snapshots in Redis: who holds the VIPs, each
director's state, and a stale reading shown as its age instead of a state."""
import datetime
import json
import re
import time

import pytest
from django.urls import reverse

from lbadmin.models import VrrpTransition
from lbadmin.redis_client import get_redis
from monitoring.live_poller import SNAPSHOT_KEY
from tests import factories


pytestmark = pytest.mark.usefixtures("empty_redis")


@pytest.fixture
def pair(db):
    return factories.redundancy_pair()


def put_snapshot(director, state, *, age=0.0, running=True, daemons=("master",), connections=0):
    snapshot = {"ok": True, "error": "", "services": [], "table": "", "took_ms": 1.0,
                "time": time.time() - age, "director": director.name,
                "vrrp": {"running": running, "state": state, "daemons": list(daemons), "connections": connections,
                         "last": []}}
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot))


def control_page(client) -> str:
    return client.get(reverse("control")).content.decode()


@pytest.mark.django_db
def test_it_names_the_master_as_the_holder_of_the_vips(client_for, viewer, pair):
    group, primary, backup = pair
    put_snapshot(primary, "MASTER", daemons=("master",), connections=42)
    put_snapshot(backup, "BACKUP", daemons=("backup",))
    page = control_page(client_for(viewer))
    assert "VIPs 192.0.2.50 held by <span class=\"\">lb1</span>" in page
    assert '<span class="badge vrrp-master">MASTER</span>' in page
    assert '<span class="badge vrrp-backup">BACKUP</span>' in page
    assert "<td>42</td>" in page and "<td>running</td>" in page and "<td>backup</td>" in page


@pytest.mark.django_db
def test_it_says_nobody_in_red_when_no_director_is_master(client_for, viewer, pair):
    group, primary, backup = pair
    put_snapshot(primary, "BACKUP")
    put_snapshot(backup, "FAULT")
    assert 'held by <span class="alert">nobody</span>' in control_page(client_for(viewer))


@pytest.mark.django_db
def test_it_says_split_brain_in_red_when_two_directors_claim_master(client_for, viewer, pair):
    group, primary, backup = pair
    put_snapshot(primary, "MASTER")
    put_snapshot(backup, "MASTER")
    assert '<span class="alert">split brain: lb1 and lb2 claim MASTER</span>' in control_page(client_for(viewer))


@pytest.mark.django_db
def test_a_stale_snapshot_shows_its_age_instead_of_its_state(client_for, viewer, pair):
    group, primary, backup = pair
    put_snapshot(primary, "MASTER", age=100)
    put_snapshot(backup, "BACKUP")
    page = control_page(client_for(viewer))
    assert re.search(r"stale: last read 10\d s ago", page)
    assert "vrrp-master" not in page
    assert 'held by <span class="alert">nobody</span>' in page


@pytest.mark.django_db
def test_it_says_so_when_no_director_has_a_current_reading(client_for, viewer, pair):
    assert "unknown: no current reading of any director" in control_page(client_for(viewer))


@pytest.mark.django_db
def test_it_shows_the_last_recorded_transition_with_its_time(client_for, viewer, pair):
    group, primary, backup = pair
    at = datetime.datetime(2026, 12, 1, 10, 0, 5, tzinfo=datetime.timezone.utc)
    VrrpTransition.objects.create(director=primary, at=at, seen_at=at, kind="INSTANCE", name="lbadmin_edge_v4",
                                  state="MASTER", priority=150)
    put_snapshot(primary, "MASTER")
    page = control_page(client_for(viewer))
    assert "MASTER at 2026-12-01" in page and "(lbadmin_edge_v4)" in page


@pytest.mark.django_db
def test_the_live_partial_refreshes_the_vrrp_panel_too(client_for, viewer, pair):
    group, primary, backup = pair
    put_snapshot(primary, "MASTER")
    put_snapshot(backup, "BACKUP")
    response = client_for(viewer).get(reverse("control_live"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="vrrp-edge"' in response.content.decode() and "held by" in response.content.decode()
