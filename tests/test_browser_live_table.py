"""The live table in a real browser: a poll changes the one row that changed, in place
(the rest of the table, and the panel itself, are the same elements as before), and the
filter box narrows the table, which keeps polling with the filter."""
import json
import threading
import time

import pytest
from playwright.sync_api import expect

from lbadmin.models import Director
from lbadmin.redis_client import get_redis
from monitoring.live_poller import SNAPSHOT_KEY
from tests.browser import browser, login, page  # noqa: F401  (fixtures)
from tests.test_list_queries import snapshot_of
from virtualservers.desired import desired_table
from virtualservers.models import HealthCheck, RealServer, VirtualServer

pytestmark = pytest.mark.browser


class Poller(threading.Thread):
    """Stands in for the live poller: a new reading of `snapshot` every half second."""

    def __init__(self, director: Director, snapshot: dict):
        super().__init__(daemon=True)
        self.key, self.snapshot, self.stop = SNAPSHOT_KEY.format(director.pk), snapshot, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.snapshot["time"] = time.time()
            get_redis().set(self.key, json.dumps(self.snapshot))
            self.stop.wait(0.5)


@pytest.mark.django_db(transaction=True)
def test_a_changed_row_is_updated_in_place_and_the_filter_narrows_the_table(live_server, page, make_user,
                                                                             monkeypatch):
    monkeypatch.setattr("monitoring.live_table.PAGE_SIZE", 5)
    servers = VirtualServer.objects.bulk_create(
        VirtualServer(name=f"svc{n}", active=True, address=f"10.9.0.{n + 1}", port=80, scheduler="wlc", protocol="tcp")
        for n in range(8))
    HealthCheck.objects.bulk_create(HealthCheck(virtual_server=vs) for vs in servers)
    RealServer.objects.bulk_create(
        RealServer(virtual_server=vs, name=f"web{k}", address=f"10.8.{n}.{k + 1}", port=8080, admin_state="enabled",
                   health="up") for n, vs in enumerate(servers) for k in range(2))
    director = Director.objects.create(name="lab", address="127.0.0.1", transport="local")
    poller = Poller(director, snapshot_of(desired_table(director)))
    poller.start()
    try:
        make_user("viewer", username="vera")
        login(page, live_server.url, "vera")
        page.goto(live_server.url + "/control/")
        assert page.locator("#live tr.service").count() == 5
        changing = page.locator("#live tr.dest", has_text="10.8.1.2:8080")
        steady = page.locator("#live tr.dest", has_text="10.8.2.1:8080")
        page.evaluate("document.getElementById('live').dataset.mark = 'first'")
        steady.evaluate("row => row.dataset.mark = 'first'")

        poller.snapshot["services"][1]["destinations"][1]["active"] = 41
        expect(changing.locator("td").nth(3)).to_have_text("41", timeout=8000)  # (CSP: no wait_for_function)
        assert page.evaluate("document.getElementById('live').dataset.mark") == "first"  # not swapped whole
        assert steady.evaluate("row => row.dataset.mark") == "first"  # the same element: not sent again
        assert page.locator("#live h3 .badge").inner_text() == "In sync"

        page.fill("input[name=q]", "10.8.6.2")  # a real server of svc6, on the second page
        expect(page.locator("#live tr.service")).to_have_count(1, timeout=8000)
        assert "svc6" in page.locator("#live tr.service").inner_text()
        assert "q=10.8.6.2" in page.get_attribute("#live", "hx-get")
        page.wait_for_timeout(2500)  # a poll later, still filtered
        assert page.locator("#live tr.service").count() == 1
    finally:
        poller.stop.set()
        poller.join()
