"""The live table tells the truth: a real server its health check took out of the kernel
stays in the table, marked; the director's badge says "In sync" only when the kernel
holds exactly the desired table; a reading older than two poll intervals is shown as
stale, with its time, never as the kernel now."""
import json
import re
import time

import pytest
from django.urls import reverse

from lbadmin.redis_client import get_redis
from monitoring.live_poller import SNAPSHOT_KEY, drifted
from monitoring.live_table import STALE_POLLS, director_views, poll_interval
from monitoring.vrrp_table import member_state
from tests import factories
from tests.test_list_queries import snapshot_of
from virtualservers import ipvs
from virtualservers.desired import desired_table


@pytest.fixture
def served(db, redis_url):
    vs = factories.virtual_server(active=True, persistent=0, pmask="")
    factories.real_server(vs, name="up1", address="192.0.2.21", admin_state="enabled", health="up")
    factories.real_server(vs, name="down2", address="192.0.2.22", admin_state="enabled", health="down",
                          health_reason="3 failures in a row: connection refused")
    director = factories.director()
    yield director
    get_redis().delete(SNAPSHOT_KEY.format(director.pk))


def put(director, table) -> None:
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot_of(table)))


@pytest.mark.django_db
def test_a_server_its_check_took_out_stays_in_the_table_marked(served):
    put(served, desired_table(served))
    view, rows = director_views([served])[0]
    names = {d.name: d for d in rows[0].destinations}
    assert set(names) == {"up1", "down2"}
    assert names["down2"].note == "out of the kernel table: its health check is down"
    assert names["down2"].health == "down" and not names["down2"].drift
    assert view.sync == "In sync"


@pytest.mark.django_db
def test_the_badge_says_drift_when_the_kernel_differs(served):
    put(served, ipvs.Table())
    view, _ = director_views([served])[0]
    assert view.sync == "drift" and view.sync_badge == "drift"


@pytest.mark.django_db
def test_drift_is_a_kernel_that_differs_from_the_last_verified_table(served):
    table = desired_table(served)
    assert not drifted(served, ipvs.render(table))  # nothing verified yet: first setup, not drift
    served.applied_table = ipvs.render(table)
    assert not drifted(served, ipvs.render(table))
    assert drifted(served, "")
    # The verdict is remembered per director, but only for the same two texts: a new
    # verified table (the kernel's unchanged) or a new reading is judged again.
    assert not drifted(served, ipvs.render(table))
    other = ipvs.render(table).replace(" -s rr", " -s wlc")
    assert other != ipvs.render(table)
    served.applied_table = other
    assert drifted(served, ipvs.render(table))
    assert not drifted(served, other)


# --- a reading that is not current says so, in place ------------------------------------

def put_aged(director, table, age: float) -> None:
    snapshot = snapshot_of(table)
    snapshot["time"] = time.time() - age
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot))


def live_partial(client) -> str:
    return client.get(reverse("control_live"), {"interval": "2"}, HTTP_HX_REQUEST="true").content.decode()


@pytest.mark.django_db
def test_a_reading_older_than_two_poll_intervals_is_shown_stale_with_its_time(served, client_for, viewer):
    put_aged(served, desired_table(served), age=2 * poll_interval() + 3)
    page = live_partial(client_for(viewer))
    read_at = re.search(r"live data stale since (\d\d:\d\d:\d\d): no new reading for (\d+) s", page)
    assert read_at and int(read_at.group(2)) >= 2 * poll_interval() + 3
    assert '<div class="director-live stale">' in page
    assert "In sync" not in page and '<span class="badge unknown">stale</span>' in page
    assert "up1" in page  # still shown, greyed, as the last reading


@pytest.mark.django_db
def test_a_current_reading_is_not_marked(served, client_for, viewer):
    put_aged(served, desired_table(served), age=poll_interval() / 2)
    page = live_partial(client_for(viewer))
    assert "stale" not in page and "In sync" in page


@pytest.mark.django_db
def test_the_vrrp_panel_and_the_table_agree_on_when_a_reading_is_stale(served):
    put_aged(served, desired_table(served), age=2 * poll_interval() + 1)
    view, _ = director_views([served])[0]
    assert view.stale and member_state(view, "", STALE_POLLS * poll_interval()).state.startswith("stale")
