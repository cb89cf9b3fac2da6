"""A live panel whose refresh fails says so in place, in a real browser: greyed, with the
time it went stale and why, never its last good state as current; the next good answer
replaces it. (The server-side half, an old reading, is in test_live_truth.py.)"""
import re

import pytest

from tests import factories
from tests.browser import browser, page  # noqa: F401  (fixtures)
from tests.redis_outage import own_redis  # noqa: F401  (fixture)
from tests.test_browser import fill_form

pytestmark = pytest.mark.browser
STALE_NOTE = re.compile(r"live data stale since \d\d:\d\d:\d\d: ")


@pytest.mark.django_db(transaction=True)
def test_a_panel_whose_refresh_fails_is_marked_stale_until_one_succeeds(live_server, page, make_user):
    make_user("viewer", username="dave", password="correct-horse-battery")
    factories.director()
    page.goto(live_server.url + "/accounts/login/")
    fill_form(page, {"username": "dave", "password": "correct-horse-battery"})
    page.click("button[type=submit]")
    page.wait_for_url("**/control/")

    # The web server answers 500 to the Applies panel, and not at all to the live table.
    page.route("**/control/applies/**", lambda route: route.fulfill(status=500, body="boom"))
    page.route("**/control/live/**", lambda route: route.abort("connectionrefused"))
    page.locator("#applies.stale > .stale-note").wait_for(timeout=12000)
    page.locator("#live.stale > .stale-note").wait_for(timeout=6000)
    applies = page.locator("#applies > .stale-note").inner_text()
    live = page.locator("#live > .stale-note").inner_text()
    assert STALE_NOTE.match(applies) and "lbadmin answered HTTP 500" in applies
    assert STALE_NOTE.match(live) and "no answer from lbadmin" in live
    since = re.search(r"\d\d:\d\d:\d\d", live).group(0)
    page.wait_for_timeout(2500)  # another failed poll keeps the first time
    assert since in page.locator("#live > .stale-note").inner_text()

    page.unroute("**/control/live/**")
    page.locator("#live:not(.stale)").wait_for(timeout=6000)
    assert page.locator("#live .stale-note").count() == 0


@pytest.mark.django_db(transaction=True)
def test_with_redis_stopped_the_banner_shows_and_a_change_waits_then_goes_when_it_is_back(
        live_server, page, make_user, own_redis, monkeypatch):
    from lbadmin import redis_client
    from virtualservers.models import ReconcileRequest, VirtualServer
    from virtualservers.tasks import drain_outbox

    monkeypatch.setattr(redis_client, "VERDICT_SECONDS", 0)
    make_user("operator", username="olga", password="correct-horse-battery")
    factories.director()
    vs = factories.virtual_server(active=False)
    page.goto(live_server.url + "/accounts/login/")
    fill_form(page, {"username": "olga", "password": "correct-horse-battery"})
    page.click("button[type=submit]")
    page.wait_for_url("**/control/")
    assert page.locator("[data-banner=redis-down]").count() == 0

    own_redis.stop()
    page.goto(live_server.url + "/virtual/")
    banner = page.locator("[data-banner=redis-down]")
    assert re.match(r"Redis unreachable since \d\d:\d\d:\d\d", banner.inner_text())
    assert "applies are paused" in banner.inner_text()
    page.locator(f"#vs-{vs.pk} button.toggle").click()
    page.locator(f"#vs-{vs.pk} button.toggle", has_text="DEACTIVATE").wait_for()
    assert VirtualServer.objects.get(pk=vs.pk).active and ReconcileRequest.objects.exists()
    page.goto(live_server.url + "/control/")
    assert "waiting for Redis: 1 change saved, not yet applied" in page.locator("#applies").inner_text()

    own_redis.start()
    assert drain_outbox() == 1  # what beat's drain does every 5 s
    page.reload()
    assert page.locator("[data-banner=redis-down]").count() == 0
    assert "waiting for Redis" not in page.locator("#applies").inner_text()
    assert not ReconcileRequest.objects.exists()
