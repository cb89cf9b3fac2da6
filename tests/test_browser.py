"""A real browser against the running app: log in, add a virtual server with
two real servers, deactivate one, and see its row change without a reload."""
import re

import pytest

from lbadmin.models import AuditEntry
from tests.browser import browser, fill_form, page  # noqa: F401  (fixtures)
from virtualservers.models import RealServer, VirtualServer

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_an_operator_flow_in_the_browser(live_server, page, make_user, tmp_path):
    make_user("admin", username="alice", password="correct-horse-battery")
    page.goto(live_server.url + "/virtual/")
    assert "/accounts/login/" in page.url
    fill_form(page, {"username": "alice", "password": "correct-horse-battery"})
    page.click("button[type=submit]")
    page.wait_for_url("**/virtual/")

    page.click("text=ADD")
    fill_form(page, {"name": "Exchange-443", "address": "192.0.2.50", "vip_nmask": "255.255.255.255",
                     "device": "seth0:1", "port": "443", "scheduler": "rr", "persistent": "14400",
                     "pmask": "255.255.255.255", "forwarding": "direct"})
    page.click("text=ACCEPT")
    page.wait_for_url("**/virtual/*/")
    vs = VirtualServer.objects.get(name="Exchange-443")

    for name, address in (("CAS1", "192.0.2.21"), ("CAS2", "192.0.2.22")):
        page.goto(f"{live_server.url}/virtual/{vs.pk}/real/add/")
        fill_form(page, {"name": name, "address": address, "weight": "1"})
        assert page.locator("[name=active]").is_checked()  # new real servers are active unless unticked
        page.click("text=ACCEPT")
        page.wait_for_url("**/real/")
    cas1, cas2 = RealServer.objects.order_by("name")
    for rs in (cas1, cas2):
        page.locator(f"#rs-{rs.pk} .badge.enabled").wait_for()

    # Mark the page: a full reload would lose this property.
    page.evaluate("window.__still_the_same_page = true")
    row = page.locator(f"#rs-{cas1.pk}")
    row.locator("button.toggle").click()
    row.locator(".badge.disabled").wait_for()
    assert "ACTIVATE" in row.locator("button.toggle").inner_text()
    assert page.evaluate("window.__still_the_same_page") is True
    assert page.locator(f"#rs-{cas2.pk} .badge.enabled").count() == 1
    cas1.refresh_from_db()
    assert cas1.admin_state == "disabled"
    assert AuditEntry.objects.filter(action="deactivate", object_repr="CAS1", username="alice").exists()
    page.screenshot(path=str(tmp_path / "real-servers.png"))


@pytest.mark.django_db(transaction=True)
def test_a_bad_value_shows_its_message_next_to_the_field(live_server, page, make_user):
    make_user("admin", username="bob", password="correct-horse-battery")
    page.goto(live_server.url + "/accounts/login/")
    fill_form(page, {"username": "bob", "password": "correct-horse-battery"})
    page.click("button[type=submit]")
    page.goto(live_server.url + "/virtual/add/")
    fill_form(page, {"name": "web", "address": "192.0.2.300", "port": "70000"})
    page.click("text=ACCEPT")
    assert "valid IPv4 or IPv6" in page.locator("#id_address_error").inner_text()
    assert "65535" in page.locator("#id_port_error").inner_text()
    assert not VirtualServer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_draining_server_shows_a_live_countdown(live_server, page, make_user):
    from tests import factories

    make_user("operator", username="carol", password="correct-horse-battery")
    vs = factories.virtual_server(drain_timeout=120)
    rs = factories.real_server(vs, admin_state="enabled")
    page.goto(live_server.url + "/accounts/login/")
    fill_form(page, {"username": "carol", "password": "correct-horse-battery"})
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/virtual/{vs.pk}/real/")
    page.locator(f"#rs-{rs.pk} >> text=DRAIN").click()
    countdown = page.locator(f"#rs-{rs.pk} .countdown")
    countdown.wait_for()
    page.wait_for_function("document.querySelector('.countdown').textContent.includes('drain ends in')")
    seconds_left = lambda: int(re.search(r"ends in (\d+) s", countdown.inner_text()).group(1))
    first = seconds_left()
    assert 100 < first <= 120
    page.wait_for_timeout(2200)
    assert seconds_left() < first


@pytest.mark.django_db(transaction=True)
def test_the_check_form_swaps_in_the_chosen_types_fields(live_server, page, make_user, tmp_path):
    from tests import factories
    from tests.browser import login
    from virtualservers.models import HealthCheck
    make_user("admin", username="carol")
    vs = factories.virtual_server()
    login(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/virtual/{vs.pk}/check/")
    assert page.locator(f"[name={'_switch_type'}]").count() == 0  # the no-JS button is gone with JS
    assert page.locator("[name=http_path]:not([type=hidden])").count() == 0
    page.evaluate("window.__still_the_same_page = true")
    fill_form(page, {"check_type": "https", "http_path": "/owa", "http_body": "utlook", "interval": "30"})
    page.locator("[name=verify_tls]").uncheck()
    assert page.locator("[name=dns_name]:not([type=hidden])").count() == 0
    assert page.evaluate("window.__still_the_same_page") is True
    page.screenshot(path=str(tmp_path / "check-form-https.png"), full_page=True)
    page.locator("[name=http_body]").press("Enter")  # Enter means ACCEPT, not SHOW ITS FIELDS
    page.wait_for_load_state()
    assert "Saved" in page.locator("ul.messages").inner_text()
    check = HealthCheck.objects.get(virtual_server=vs)
    assert (check.check_type, check.http_path, check.http_body, check.verify_tls, check.interval) == \
        ("https", "/owa", "utlook", False, 30)
