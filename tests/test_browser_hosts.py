"""Issue 14's acceptance, in a real browser: the article's five Exchange services with two
CAS servers each, from an empty database, through the template; then CAS2 drained on all
five services with one action, shown on REAL SERVERS with its countdown, one audit entry.

Before (by hand, one form per object as Piranha had it): a virtual server form, two real
server forms, two activations and a virtual server activation per service, and the 443
check: 5 x 6 + 1 = 31 posts plus the login, and five drains on five pages. Here the posts
are counted as the browser sends them."""
import re

import pytest

from lbadmin.models import AuditEntry
from tests.browser import browser, fill_form, login, page  # noqa: F401  (fixtures)
from virtualservers.models import RealServer, VirtualServer

pytestmark = pytest.mark.browser

PORTS = ("443", "80", "135", "7575", "7576")


def seconds_left(countdown) -> int:
    return int(re.search(r"drain ends in (\d+) s", countdown.inner_text()).group(1))


@pytest.mark.django_db(transaction=True)
def test_the_article_exchange_set_in_a_few_posts_then_cas2_drained_everywhere_in_one(live_server, page, make_user,
                                                                                     tmp_path):
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    make_user("admin", username="mark")
    login(page, live_server.url, "mark")

    page.click("nav.tabs >> text=CONFIGURATION")
    page.click('#changes >> text="TEMPLATES"')
    page.wait_for_url("**/config/template/")
    assert "Names become PREFIX-443, PREFIX-80, PREFIX-135, PREFIX-7575, PREFIX-7576." in page.locator("main").inner_text()
    assert page.locator("[name=check_443]").input_value() == "owa"
    fill_form(page, {"name_prefix": "Exchange", "vip": "192.0.2.50", "device": "seth0:1",
                     "addresses": "CAS1 192.0.2.21\nCAS2 192.0.2.22", "check_80": "tcp"})
    page.screenshot(path=str(tmp_path / "template-form.png"), full_page=True)
    page.click("button:text('PREVIEW')")
    page.wait_for_load_state()
    assert "5 added, 0 changed, 0 removed." in page.locator("main").inner_text()
    added = [r.locator("td").nth(1).inner_text() for r in page.locator("table#changes tbody tr").all()]
    assert sorted(added) == sorted(f"virtual server Exchange-{p}" for p in PORTS)
    page.click("button:text('CONFIRM')")
    page.wait_for_url("**/config/")
    assert "5 virtual servers, 10 real servers." in page.locator("main").inner_text()

    page.click("nav.tabs >> text=VIRTUAL SERVERS")
    rows = page.locator("#virtual-servers tbody tr")
    assert rows.count() == 5 and rows.locator(".badge.up").count() == 5  # all active, nothing to click
    built = len(posts)

    page.click("nav.tabs >> text=REAL SERVERS")
    page.wait_for_url("**/hosts/")
    cas2 = page.locator("#host-192-0-2-22")
    assert cas2.locator("ul.host-services li").count() == 5
    assert cas2.locator(".badge.enabled").count() == 5
    cas2.locator("button:text('DRAIN EVERYWHERE')").click()
    page.wait_for_url("**/hosts/")
    assert "192.0.2.22 drained on 5 services" in page.locator("ul.messages").inner_text()
    cas2 = page.locator("#host-192-0-2-22")
    assert cas2.locator(".badge.draining").count() == 5
    page.wait_for_function("document.querySelectorAll('#host-192-0-2-22 .countdown').length === 5 && "
                           "[...document.querySelectorAll('#host-192-0-2-22 .countdown')]"
                           ".every(e => e.textContent.includes('drain ends in'))")
    assert all(250 < seconds_left(c) <= 300 for c in cas2.locator(".countdown").all())
    assert page.locator("#host-192-0-2-21 .badge.enabled").count() == 5  # CAS1 untouched
    page.screenshot(path=str(tmp_path / "hosts-list-cas2-draining.png"), full_page=True)

    cas2.locator("a", has_text="192.0.2.22").first.click()
    page.wait_for_url("**/hosts/192.0.2.22/")
    services = page.locator("#host-services tbody tr")
    assert services.count() == 5 and services.locator(".countdown").count() == 5
    first = seconds_left(services.locator(".countdown").first)
    page.wait_for_timeout(2200)
    assert seconds_left(services.locator(".countdown").first) < first
    assert "0 enabled, 5 draining, 0 disabled" in page.locator("#host-summary").inner_text()
    page.screenshot(path=str(tmp_path / "host-cas2-draining.png"), full_page=True)

    drains = len(posts) - built
    assert built <= 10, posts  # login, template preview, confirm
    assert drains == 1, posts
    print(f"\nform submissions: {built} to build the five services (login included), {drains} to drain CAS2")

    assert VirtualServer.objects.filter(active=True).count() == 5
    assert set(RealServer.objects.filter(address="192.0.2.22").values_list("admin_state", flat=True)) == {"draining"}
    assert set(RealServer.objects.filter(address="192.0.2.21").values_list("admin_state", flat=True)) == {"enabled"}
    entry = AuditEntry.objects.get(action="drain")
    assert entry.username == "mark" and sorted(entry.after) == sorted(f"Exchange-{p} CAS2" for p in PORTS)
    assert AuditEntry.objects.filter(action="template").count() == 1
