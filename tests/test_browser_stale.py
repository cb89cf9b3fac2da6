"""A live panel whose refresh fails says so in place, in a real browser: greyed, with the
time it went stale and why, never its last good state as current; the next good answer
replaces it. (The server-side half, an old reading, is in test_live_truth.py.)"""
import re

import pytest

from tests import factories
from tests.browser import browser, page  # noqa: F401  (fixtures)
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
