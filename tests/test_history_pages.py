"""The history panel on the VIRTUAL SERVER and REAL SERVER pages: who may see it, how those
pages load it (HTMX, from the monitoring app), its ranges, its gaps, "no data since" in place
of old numbers, and the health timeline with each change's reason."""
import datetime
import time

import pytest
from django.urls import reverse

from monitoring.history_page import when
from monitoring.history_store import FIELDS, FINE_CHUNK, FINE_SLOTS, FINE_STEP, NAN, chunk_start, encode
from monitoring.models import HealthEvent, HistoryChunk
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(empty_redis, monkeypatch):
    from monitoring import history

    monkeypatch.setattr(history, "_mapping", None)  # the mapping cache belongs to one configuration
    vs = factories.virtual_server(name="web", address="192.0.2.50", port=80, persistent=0, pmask="", active=True)
    rs = factories.real_server(vs, name="web1", address="10.0.0.1")
    return vs, rs


def chunk(kind, pk, start, active: list[float]):
    columns = {name: [0.0 if v == v else NAN for v in active] for name in FIELDS}
    columns["active"] = list(active)
    return HistoryChunk(kind=kind, object_id=pk, step=FINE_STEP, start=start, data=encode(columns, FIELDS))


@pytest.mark.parametrize("name, args", [("history_virtual", "vs"), ("history_real", "rs")])
def test_it_needs_a_login_and_a_viewer_may_read(world, client_for, viewer, make_user, name, args):
    vs, rs = world
    url = reverse(name, args=[vs.pk if args == "vs" else rs.pk])
    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert client_for(make_user(None)).get(url).status_code == 403
    assert client_for(viewer).get(url).status_code == 200


def test_it_is_get_only(world, client_for, admin_user):
    vs, _ = world
    assert client_for(admin_user).post(reverse("history_virtual", args=[vs.pk])).status_code == 405


def test_the_virtual_and_real_server_pages_load_the_panel(world, client_for, viewer):
    vs, rs = world
    client = client_for(viewer)
    page = client.get(reverse("virtual_edit", args=[vs.pk])).content.decode()
    url = reverse("history_virtual", args=[vs.pk])
    assert f'hx-get="{url}" hx-trigger="load"' in page and f'href="{url}"' in page
    page = client.get(reverse("real_edit", args=[vs.pk, rs.pk])).content.decode()
    assert f'hx-get="{reverse("history_real", args=[rs.pk])}" hx-trigger="load"' in page
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert "HX-Request" in partial["Vary"]
    assert partial.content.decode().startswith('<section class="panel history" id="history"')
    assert "<html" in client.get(url).content.decode()  # without HTMX: a page of its own


def test_a_gap_in_the_data_is_shown_as_one(world, client_for, viewer):
    vs, _ = world
    now = time.time()
    start = chunk_start(now, FINE_CHUNK) - 4 * FINE_CHUNK
    HistoryChunk.objects.bulk_create([
        chunk("v", vs.pk, start, [5.0] * FINE_SLOTS),
        chunk("v", vs.pk, start + 2 * FINE_CHUNK, [50.0] * FINE_SLOTS)])
    page = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert f"<title>no data from {when(start + FINE_CHUNK, False)} to {when(start + 2 * FINE_CHUNK, False)}</title>" in page
    assert ">50</text>" in page  # the scale reaches the peak: 0 .. 50
    assert "peak 50" in page
    # The data ends 5 to 10 minutes ago: not current.
    assert f"No data since {when(start + 3 * FINE_CHUNK, False)}" in page and "no reading now" in page


def test_current_data_shows_its_numbers_now(world, client_for, viewer, monkeypatch):
    from tests.metrics_kernel import Dest, Service, poll

    from monitoring import history

    vs, _ = world
    poll(monkeypatch, factories.director("lb1"), [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80, active=9)])])
    history.sample()
    page = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "No data since" not in page and "now 9, peak 9" in page
    assert 'hx-trigger="every 10s"' in page  # 1 h follows the samples


def test_without_any_data_it_says_so(world, client_for, viewer):
    vs, _ = world
    page = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "No data yet" in page and "<svg" in page


@pytest.mark.parametrize("range_name, label", [("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d")])
def test_each_range_is_drawn(world, client_for, viewer, range_name, label):
    vs, _ = world
    now = time.time()
    HistoryChunk.objects.bulk_create([chunk("v", vs.pk, chunk_start(now, FINE_CHUNK) - 2 * FINE_CHUNK, [7.0] * FINE_SLOTS)])
    page = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), {"range": range_name},
                                  HTTP_HX_REQUEST="true").content.decode()
    assert f'class="on" aria-current="true">{label}</a>' in page and "peak 7" in page
    assert page.count('<svg class="chart"') == 3


def test_an_unknown_range_says_so_and_shows_one_hour(world, client_for, viewer):
    vs, _ = world
    page = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), {"range": "99y"}).content.decode()
    assert "No range &#x27;99y&#x27;: showing 1 h." in page


def test_the_health_timeline_has_each_change_and_its_reason(world, client_for, viewer):
    vs, rs = world
    now = datetime.datetime.now(datetime.timezone.utc)
    up_at, down_at = now - datetime.timedelta(minutes=40), now - datetime.timedelta(minutes=10)
    HealthEvent.objects.create(real_server=rs, at=up_at, old_state="unknown", new_state="up", reason="1 success")
    HealthEvent.objects.create(real_server=rs, at=down_at, old_state="up", new_state="down",
                               reason="2 failures in a row: <b>connection refused</b>")
    rs.health = "down"
    rs.save(update_fields=["health"])
    for url in (reverse("history_virtual", args=[vs.pk]), reverse("history_real", args=[rs.pk])):
        page = client_for(viewer).get(url, HTTP_HX_REQUEST="true").content.decode()
        ts = when(up_at.timestamp(), False), when(down_at.timestamp(), False)
        assert '<rect class="h-up"' in page and f"<title>up {ts[0]} to {ts[1]}: 1 success</title>" in page
        assert f"<title>down since {ts[1]}: 2 failures in a row: &lt;b&gt;connection refused&lt;/b&gt;</title>" in page
        assert '<rect class="h-unknown"' in page  # before the first check
        assert "<b>connection refused" not in page
        events = page[page.index('id="history-events"'):]
        assert events.index("connection refused") < events.index("1 success")  # newest first


def test_with_redis_unreachable_the_database_part_is_shown_and_the_gap_said(world, client_for, viewer, settings, redis_url):
    from lab.services import free_port
    from lbadmin.redis_client import get_redis

    vs, _ = world
    HistoryChunk.objects.bulk_create([chunk("v", vs.pk, chunk_start(time.time(), FINE_CHUNK) - 2 * FINE_CHUNK,
                                            [4.0] * FINE_SLOTS)])
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    get_redis.cache_clear()
    try:
        response = client_for(viewer).get(reverse("history_virtual", args=[vs.pk]), HTTP_HX_REQUEST="true")
    finally:
        settings.REDIS_URL = redis_url
        get_redis.cache_clear()
    page = response.content.decode()
    assert response.status_code == 200 and "peak 4" in page
    assert "the last minutes are missing: Redis unreachable" in page
