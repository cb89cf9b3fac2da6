"""Long lists stay usable: CONTROL's live table shows a page of services, filtered by a
name, a VIP or a real server, and its poll sends only what changed (204 when nothing did,
the changed rows as out-of-band swaps otherwise, the whole panel when its shape changed);
VIRTUAL SERVERS and REAL SERVERS page and filter the same way. (Speed: bench/bench_pages.py.)"""
import json
import re
import time

import pytest
from django.urls import reverse

from lbadmin.models import Director
from lbadmin.redis_client import get_redis
from monitoring.live_poller import SNAPSHOT_KEY
from monitoring.live_table import poll_interval
from tests.test_list_queries import snapshot_of
from virtualservers.desired import desired_table
from virtualservers.models import HealthCheck, RealServer, VirtualServer

SERVICES, PAGE_SIZE = 12, 5  # pages of 5 (20 and 50 in the product): three pages of services, five of hosts
LIST_PAGE_SIZE = PAGE_SIZE


@pytest.fixture
def table(db, empty_redis, monkeypatch):
    for module in ("monitoring.live_table", "virtualservers.views", "virtualservers.host_views"):
        monkeypatch.setattr(f"{module}.PAGE_SIZE", PAGE_SIZE)
    monkeypatch.setattr("virtualservers.host_views.CANDIDATES_SHOWN", PAGE_SIZE)
    servers = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"svc{n:02d}", active=True, address=f"10.9.0.{n + 1}", port=80, scheduler="wlc",
                      protocol="tcp") for n in range(SERVICES))
    HealthCheck.objects.bulk_create(HealthCheck(virtual_server=vs) for vs in servers)
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"web{k}", address=f"10.8.{n}.{k + 1}", port=8080, admin_state="enabled",
                   health="up") for n, vs in enumerate(servers) for k in range(2))
    director = Director.objects.create(name="lab", address="127.0.0.1", transport="local")
    snapshot = snapshot_of(desired_table(director))
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot))
    return director, snapshot


def live(client, params=None, version=None):
    headers = {"HTTP_HX_REQUEST": "true"}
    if version:
        headers["HTTP_X_LIVE_VERSION"] = version
    return client.get(reverse("control_live"), {"interval": "2", **(params or {})}, **headers)


def services_shown(html: str) -> list[str]:
    return re.findall(r'<tr class="service"[^>]*><td colspan="5"><b>TCP  (10\.9\.0\.\d+):80</b>', html)


@pytest.mark.django_db
def test_the_live_table_shows_a_page_of_services_and_the_next_pages(table, client_for, viewer):
    client = client_for(viewer)
    first = live(client).content.decode()
    assert services_shown(first) == [f"10.9.0.{n + 1}" for n in range(PAGE_SIZE)]
    assert "page 1 of 3" in first and "page=2" in first
    last = live(client, {"page": "3"}).content.decode()
    assert services_shown(last) == [f"10.9.0.{n + 1}" for n in range(2 * PAGE_SIZE, SERVICES)]
    assert live(client, {"page": "99"}).content.decode().count('class="service"') == SERVICES - 2 * PAGE_SIZE
    assert live(client, {"page": "x"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("text, shown", [
    ("svc07", ["10.9.0.8"]),  # a name
    ("10.9.0.12", ["10.9.0.12"]),  # a VIP
    ("10.8.10.2", ["10.9.0.11"]),  # a real server's address
    ("nothing-like-it", []),
])
def test_the_live_table_filters_by_name_vip_or_real_server(table, client_for, viewer, text, shown):
    html = live(client_for(viewer), {"q": text}).content.decode()
    assert services_shown(html) == shown
    assert (f"{len(shown)} of {SERVICES} services match" in html) and (bool(shown) or "No service matches" in html)
    assert f"q={text}" in html  # the poll keeps the filter


@pytest.mark.django_db
def test_a_poll_of_the_same_reading_answers_nothing(table, client_for, viewer):
    client = client_for(viewer)
    version = live(client)["X-Live-Version"]
    again = live(client, version=version)
    assert again.status_code == 204 and again.content == b"" and again["X-Live-Version"] == version


@pytest.mark.django_db
def test_a_poll_sends_only_the_rows_that_changed_as_out_of_band_swaps(table, client_for, viewer):
    director, snapshot = table
    client = client_for(viewer)
    full = live(client)
    version = full["X-Live-Version"]
    changed = snapshot["services"][3]["destinations"][1]
    row_id = re.search(rf'<tr class="dest" id="([^"]+)"><td>&nbsp;&nbsp;→ {re.escape(changed["endpoint"])} ',
                       full.content.decode()).group(1)
    changed["active"] = 41
    snapshot["time"] = time.time()
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot))
    answer = live(client, version=version)
    html = answer.content.decode()
    assert answer.status_code == 200 and answer["HX-Reswap"] == "none"
    swapped = re.findall(r'id="([^"]+)"[^>]*hx-swap-oob="true"', html)
    # That row, the director's heading (read at a new time) and the version the page now shows.
    assert sorted(swapped) == sorted([row_id, f"live-head-{director.pk}", "live-version"])
    assert "<td>41</td>" in html and 'class="service"' not in html
    assert answer["X-Live-Version"] != version and f'data-version="{answer["X-Live-Version"]}"' in html


@pytest.mark.django_db
def test_an_unknown_version_or_another_page_gets_the_whole_panel(table, client_for, viewer):
    client = client_for(viewer)
    version = live(client)["X-Live-Version"]
    assert 'id="live"' in live(client, version="0123456789abcdef").content.decode()
    assert 'id="live"' in live(client, {"page": "2"}, version=version).content.decode()


@pytest.mark.django_db
def test_a_reading_that_turned_stale_reaches_the_page_whole(table, client_for, viewer):
    director, snapshot = table
    client = client_for(viewer)
    version = live(client)["X-Live-Version"]
    snapshot["time"] = time.time() - 3 * poll_interval()
    get_redis().set(SNAPSHOT_KEY.format(director.pk), json.dumps(snapshot))
    html = live(client, version=version).content.decode()
    assert 'id="live"' in html and '<div class="director-live stale">' in html


@pytest.mark.django_db
def test_virtual_servers_come_a_page_at_a_time_and_filter(table, client_for, viewer):
    client = client_for(viewer)
    first = client.get(reverse("virtual_list")).content.decode()
    assert first.count('<tr id="vs-') == LIST_PAGE_SIZE and "page 1 of 3" in first
    last = client.get(reverse("virtual_list"), {"page": "3"}).content.decode()
    assert last.count('<tr id="vs-') == SERVICES - 2 * LIST_PAGE_SIZE
    for text, name in (("svc07", "svc07"), ("10.9.0.12", "svc11"), ("10.8.10.2", "svc10")):
        found = client.get(reverse("virtual_list"), {"q": text}).content.decode()
        assert found.count('<tr id="vs-') == 1 and f">{name}</a>" in found, text


@pytest.mark.django_db
def test_real_servers_come_a_page_at_a_time_and_filter(table, client_for, viewer):
    client = client_for(viewer)
    first = client.get(reverse("host_list")).content.decode()
    assert first.count('<tr id="host-') == LIST_PAGE_SIZE and "page 1 of 5" in first
    assert client.get(reverse("host_list"), {"page": "5"}).content.decode().count('<tr id="host-') == 2 * SERVICES - 4 * LIST_PAGE_SIZE
    by_service = client.get(reverse("host_list"), {"q": "svc07"}).content.decode()
    assert re.findall(r'<tr id="host-([0-9-]+)"', by_service) == ["10-8-7-1", "10-8-7-2"]
    assert client.get(reverse("host_list"), {"q": "10.8.10.2"}).content.decode().count('<tr id="host-') == 1


@pytest.mark.django_db
def test_a_host_offers_a_handful_of_the_services_it_could_join_and_finds_the_others(table, client_for, admin_user):
    client = client_for(admin_user)
    page = client.get(reverse("host_detail", args=["10.8.0.1"])).content.decode()
    assert page.count('name="services"') == PAGE_SIZE and f"{PAGE_SIZE} of {SERVICES - 1} shown" in page
    found = client.get(reverse("host_detail", args=["10.8.0.1"]), {"q": "svc07"}).content.decode()
    assert found.count('name="services"') == 1 and "svc07" in found


@pytest.mark.django_db
def test_configuration_counts_at_once_and_its_export_notes_follow(client_for, viewer):
    from tests import factories

    factories.virtual_server(name="v6", address="2001:db8::80", port=80, vip_nmask="", pmask="", persistent=0)
    client = client_for(viewer)
    page = client.get(reverse("config_index")).content.decode()
    assert "1 virtual server, 0 real servers" in page and 'hx-get="/config/?part=notes"' in page
    notes = client.get(reverse("config_index"), {"part": "notes"}, HTTP_HX_REQUEST="true").content.decode()
    assert "lvs.cf cannot carry" in notes and "v6" in notes
