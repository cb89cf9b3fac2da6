"""The main journeys in a real browser against the live server: build a service and
operate it, watch the live table change under an open page, read the changes back in
the audit log, import a real-world file through its preview, and lose an edit race
without losing anything. Each asserts what the page shows; the database and the audit
log where they are the proof."""
import re
from pathlib import Path

import pytest

from lab import topology
from lbadmin.management.commands.lab import register_lab_director
from lbadmin.models import AuditEntry
from lbadmin.redis_client import get_redis
from monitoring.live_poller import HISTORY_KEY, SNAPSHOT_KEY, poll_director
from tests import factories
from tests.browser import browser, fill_form, login, page  # noqa: F401  (fixtures)
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from virtualservers.models import ApplyRun, RealServer, VirtualServer
from virtualservers.reconcile import reconcile_director

pytestmark = pytest.mark.browser

CORPUS = Path(__file__).parent / "corpus"


def mark_page(page) -> None:
    """A full reload (or a navigation) would lose this property; an htmx swap keeps it."""
    page.evaluate("window.__still_the_same_page = true")


def still_the_same_page(page) -> bool:
    return page.evaluate("window.__still_the_same_page === true")


def seconds_left(countdown) -> int:
    return int(re.search(r"drain ends in (\d+) s", countdown.inner_text()).group(1))


def build_and_operate_a_service(page, base_url: str) -> tuple[VirtualServer, RealServer, RealServer]:
    """Journey 1 through the pages, as a person clicks it: a virtual server, two real
    servers (added active, the form's default) and an HTTP check; activate the virtual
    server, deactivate web1, drain web2."""
    page.goto(base_url + "/virtual/")
    page.click("a.button:text('ADD')")
    fill_form(page, {"name": "web-80", "address": "192.0.2.60", "vip_nmask": "255.255.255.255", "device": "eth0:1",
                     "port": "80", "scheduler": "wlc", "persistent": "0", "pmask": "", "forwarding": "direct",
                     "drain_timeout": "120"})
    page.click("text=ACCEPT")
    page.wait_for_url(re.compile(r"/virtual/\d+/$"))
    assert "Saved" in page.locator("ul.messages").inner_text()
    vs = VirtualServer.objects.get(name="web-80")

    for name, address in (("web1", "192.0.2.61"), ("web2", "192.0.2.62")):
        page.click('nav.subtabs >> text="REAL SERVER"')
        page.click("a.button:text('ADD')")
        fill_form(page, {"name": name, "address": address, "weight": "2"})
        page.click("text=ACCEPT")
        page.wait_for_url(f"**/virtual/{vs.pk}/real/")
    web1, web2 = (vs.real_servers.get(name=n) for n in ("web1", "web2"))
    table = page.locator("#real-servers")
    assert "192.0.2.61" in table.inner_text() and "192.0.2.62" in table.inner_text()

    page.click('nav.subtabs >> text="MONITORING SCRIPTS"')
    fill_form(page, {"check_type": "http", "http_path": "/health", "http_status": "200", "interval": "5",
                     "timeout": "3", "rise": "2", "fall": "3"})
    page.click("form.edit button.primary")
    page.wait_for_load_state()
    assert "Saved" in page.locator("ul.messages").inner_text()
    assert page.locator("[name=http_path]").input_value() == "/health"

    page.click("nav.tabs >> text=VIRTUAL SERVERS")
    mark_page(page)
    row = page.locator(f"#vs-{vs.pk}")
    assert row.locator(".badge").inner_text() == "down"
    row.locator("button.toggle").click()
    row.locator(".badge.up").wait_for()
    assert row.locator(".badge").inner_text() == "active"
    assert row.locator("button.toggle").inner_text() == "DEACTIVATE"
    assert still_the_same_page(page)

    row.locator(f"a[href$='/virtual/{vs.pk}/real/']").click()
    page.wait_for_url(f"**/virtual/{vs.pk}/real/")
    mark_page(page)
    for rs in (web1, web2):  # added active: the form's Active box is ticked unless unticked
        page.locator(f"#rs-{rs.pk} .badge.enabled").wait_for()
    page.locator(f"#rs-{web1.pk} button.toggle").click()  # deactivate
    page.locator(f"#rs-{web1.pk} .badge.disabled").wait_for()
    page.locator(f"#rs-{web2.pk} button:text('DRAIN')").click()
    # web2 is the last server taking traffic: the row first says what draining it does.
    page.locator(f"#rs-{web2.pk}.confirm").wait_for()
    assert "fails: no real server is left behind it" in page.locator(f"#rs-{web2.pk}").inner_text()
    page.locator(f"#rs-{web2.pk} button:text('DRAIN ANYWAY')").click()
    page.locator(f"#rs-{web2.pk} .badge.draining").wait_for()
    assert still_the_same_page(page)
    return vs, web1, web2


@pytest.mark.django_db(transaction=True)
def test_an_admin_builds_a_service_and_operates_it_without_reloads(live_server, page, make_user, tmp_path):
    make_user("admin", username="dana")
    login(page, live_server.url, "dana")
    vs, web1, web2 = build_and_operate_a_service(page, live_server.url)

    row1, row2 = page.locator(f"#rs-{web1.pk}"), page.locator(f"#rs-{web2.pk}")
    admin_badge = "td:first-child .badge"
    assert row1.locator(admin_badge).inner_text() == "Disabled"
    assert row1.locator("button.toggle").inner_text() == "ACTIVATE" and row1.locator("button:text('DRAIN')").count() == 0
    assert row2.locator(admin_badge).inner_text() == "Draining"
    assert row2.locator("td.health .badge").inner_text() == "Unknown"  # no worker has checked it yet
    countdown = row2.locator(".countdown")
    page.wait_for_function(f"document.querySelector('#rs-{web2.pk} .countdown').textContent.includes('drain ends in')")
    first = seconds_left(countdown)
    assert 100 < first <= 120
    page.wait_for_timeout(2200)
    assert seconds_left(countdown) < first
    assert still_the_same_page(page)
    page.screenshot(path=str(tmp_path / "journey-1-real-servers.png"), full_page=True)

    vs.refresh_from_db()
    web1.refresh_from_db()
    web2.refresh_from_db()
    assert vs.active and (web1.admin_state, web2.admin_state) == ("disabled", "draining")
    assert web2.drain_started_at is not None
    check = vs.health_check
    assert (check.check_type, check.http_path, check.http_status, check.interval) == ("http", "/health", "200", 5)
    by_dana = AuditEntry.objects.filter(username="dana")
    assert by_dana.filter(action="create", object_type="VirtualServer", object_repr__contains="web-80").count() == 1
    assert by_dana.filter(action="create", object_type="RealServer").count() == 2
    assert by_dana.filter(action="update", object_type="HealthCheck").count() == 1
    assert by_dana.filter(action="activate").count() == 1  # the virtual server; its real servers were added active
    assert by_dana.filter(action="deactivate", object_repr="web1").count() == 1
    assert by_dana.filter(action="drain", object_repr="web2").count() == 1


def live_row(page, text: str):
    return page.locator("#live tr.dest", has_text=text)


def weight_shown(page, text: str) -> str:
    return live_row(page, text).locator("td").nth(2).inner_text()


@pytest.mark.lab
@pytest.mark.django_db(transaction=True)
def test_the_live_table_follows_the_kernel_under_an_open_page(live_server, page, make_user, clean_lab_vm, tmp_path):
    """A real director (the lab VM); reconcile and the live poll run in-process, as the
    worker would run them; the page stays open and its htmx poll (every 2 s) shows them."""
    rs1, rs2, rs3 = (topology.REAL_SERVERS[n] for n in ("rs1", "rs2", "rs3"))
    vip = topology.VIP_POOL_V4[3]
    director = register_lab_director(clean_lab_vm)
    try:
        vs = factories.virtual_server(name="web", address=vip, port=80, device="eth1:1", persistent=0, pmask="",
                                      forwarding="nat", active=True)
        for rs in (rs1, rs2):
            factories.real_server(vs, name=rs.name, address=rs.ipv4, admin_state="enabled")
        assert reconcile_director(director.pk, trigger="test").run.result == ApplyRun.Result.OK
        poll_director(director)

        make_user("admin", username="olga")
        login(page, live_server.url, "olga")
        page.goto(live_server.url + "/control/")
        live_row(page, "rs1").wait_for()
        assert f"TCP {vip}:80" in page.locator("#live tr.service").inner_text()
        assert weight_shown(page, "rs1") == "1" and weight_shown(page, "rs2") == "1"
        assert page.locator("#live h3 .badge").inner_text() == "In sync"
        mark_page(page)

        # An admin gives rs1 weight 3 in another tab; the worker's reconcile and poll follow.
        other = page.context.new_page()
        other.goto(f"{live_server.url}/virtual/{vs.pk}/real/")
        other.locator("#real-servers tr", has_text=rs1.ipv4).locator("text=EDIT").click()
        fill_form(other, {"weight": "3"})
        other.click("text=ACCEPT")
        other.wait_for_url(f"**/virtual/{vs.pk}/real/")
        other.close()
        assert reconcile_director(director.pk, trigger="test").run.result == ApplyRun.Result.OK
        assert f"-r {rs1.ipv4}:80 -m -w 3" in clean_lab_vm.ipvsadm_save()
        poll_director(director)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#live tr.dest')].some(r => r.textContent.includes('rs1')"
            " && r.cells[2].textContent.trim() === '3')")
        assert weight_shown(page, "rs2") == "1"
        assert still_the_same_page(page)

        # Someone adds a real server by hand on the director: the next poll shows it, marked.
        clean_lab_vm.check(["ipvsadm", "-a", "-t", f"{vip}:80", "-r", f"{rs3.ipv4}:80", "-m"])
        poll_director(director)
        stray = live_row(page, rs3.ipv4)
        stray.locator(".badge.drift").wait_for()
        assert stray.locator(".badge.drift").inner_text() == "not desired"
        assert page.locator("#live h3 .badge").inner_text() != "In sync"
        page.screenshot(path=str(tmp_path / "journey-2-live-table.png"), full_page=True)

        # The repair (the drift policy's default) takes it out again, and the page says so.
        assert reconcile_director(director.pk, trigger="drift").run.result == ApplyRun.Result.OK
        poll_director(director)
        stray.wait_for(state="detached")
        page.wait_for_function("document.querySelector('#live h3 .badge').textContent.trim() === 'In sync'")
        assert still_the_same_page(page)
    finally:
        get_redis().delete(SNAPSHOT_KEY.format(director.pk), HISTORY_KEY.format(director.pk))


@pytest.mark.django_db(transaction=True)
def test_the_audit_log_shows_who_changed_what_before_and_after_and_filters(live_server, page, make_user, tmp_path):
    make_user("admin", username="dana")
    login(page, live_server.url, "dana")
    vs, web1, web2 = build_and_operate_a_service(page, live_server.url)

    page.click("nav.tabs >> text=AUDIT LOG")
    page.wait_for_url("**/audit/")
    log = page.locator("table.audit tbody")
    drain = log.locator("tr", has_text="RealServer web2").filter(has=page.locator(".action.drain"))
    assert drain.count() == 1
    cells = drain.locator("td").all_inner_texts()
    assert cells[1] == "dana" and cells[2] == "127.0.0.1"
    assert "admin_state: enabled → draining" in cells[5]
    assert log.locator("tr", has_text="VirtualServer web-80").filter(has=page.locator(".action.activate")).count() == 1

    # Filters: by user and action; then the entry itself, with its before and after.
    fill_form(page, {"user": "dana", "action": "deactivate"})
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"/audit/\?.*action=deactivate"))
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert "RealServer web1" in rows.inner_text() and "admin_state: enabled → disabled" in rows.inner_text()
    assert "entries" in page.locator("nav.pager").inner_text() and "(1 entries)" in page.locator("nav.pager").inner_text()

    fill_form(page, {"user": "", "action": "", "object_type": "HealthCheck"})
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"object_type=HealthCheck"))
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert "check_type: tcp → http" in rows.inner_text()
    rows.locator("td a").first.click()
    page.wait_for_url(re.compile(r"/audit/\d+/$"))
    diff = {tds[0]: (tds[1], tds[2]) for tds in
            (r.locator("td").all_inner_texts() for r in page.locator("table.diff tbody tr").all())}
    assert diff["check_type"] == ("tcp", "http") and diff["http_path"] == ("/", "/health")
    assert diff["interval"] == ("6", "5")
    details = page.locator("table.form").inner_text()
    assert "dana" in details and "update" in details and "HealthCheck" in details
    assert re.search(r"Request id\s+\S{8,}", details)
    page.screenshot(path=str(tmp_path / "journey-3-audit-entry.png"), full_page=True)

    page.go_back()
    fill_form(page, {"user": "nobody-did-this", "object_type": ""})
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"user=nobody-did-this"))
    assert page.locator("table.audit tbody").inner_text().strip() == "No entries match."


@pytest.mark.django_db(transaction=True)
def test_an_import_shows_its_preview_and_creates_nothing_until_confirmed(live_server, page, make_user, tmp_path):
    make_user("admin", username="erin")
    login(page, live_server.url, "erin")
    page.click("nav.tabs >> text=CONFIGURATION")
    page.click('#changes >> text="IMPORT"')
    page.wait_for_url("**/config/import/")
    fill_form(page, {"format": "keepalived"})
    page.set_input_files("[name=file]", str(CORPUS / "keepalived" / "http_and_tcp.conf"))
    page.click("button:text('PREVIEW')")
    page.wait_for_load_state()

    assert "PREVIEW" in page.locator("h1").inner_text()
    assert "Nothing has changed yet." in page.locator("main").inner_text()
    assert "http_and_tcp.conf: 2 added, 0 changed, 0 removed." in page.locator("main").inner_text()
    changes = {tds[1]: (tds[0], tds[2]) for tds in
               (r.locator("td").all_inner_texts() for r in page.locator("table#changes tbody tr").all())}
    assert set(changes) == {"virtual server 192.0.2.80-80", "virtual server 192.0.2.80-25"}
    action, details = changes["virtual server 192.0.2.80-80"]
    assert action == "add" and "192.0.2.80:80 wlc direct, http check" in details
    assert "192.0.2.11" in details and "192.0.2.12" in details
    assert "198.51.100.25:2525" in changes["virtual server 192.0.2.80-25"][1]
    warnings = page.locator("#warnings").inner_text()
    assert "http_and_tcp.conf:10: include /etc/keepalived/conf.d/*.conf not read: one uploaded file" in warnings, warnings
    assert "http_and_tcp.conf:38: digest not imported" in warnings, warnings
    page.screenshot(path=str(tmp_path / "journey-4-import-preview.png"), full_page=True)
    assert not VirtualServer.objects.exists() and not AuditEntry.objects.filter(action="import").exists()

    page.click("button:text('CONFIRM')")
    page.wait_for_url("**/config/")
    assert "2 virtual servers, 3 real servers." in page.locator("main").inner_text()
    page.click("nav.tabs >> text=VIRTUAL SERVERS")
    listed = page.locator("#virtual-servers tbody tr")
    assert listed.count() == 2
    assert {tds[2] for tds in (r.locator("td").all_inner_texts() for r in listed.all())} == {"192.0.2.80"}
    assert {tds[4] for tds in (r.locator("td").all_inner_texts() for r in listed.all())} == {"80", "25"}
    assert listed.locator(".badge.up").count() == 2  # the file's virtual servers are active
    assert VirtualServer.objects.count() == 2 and RealServer.objects.count() == 3
    web = VirtualServer.objects.get(port=80)
    assert (web.scheduler, web.persistent, web.pmask, web.health_check.check_type) == ("wlc", 300, "255.255.255.0", "http")
    entry = AuditEntry.objects.get(action="import")
    assert entry.username == "erin" and "http_and_tcp.conf" in entry.message


@pytest.mark.django_db(transaction=True)
def test_the_older_of_two_open_edit_forms_is_refused_showing_the_newer_values(live_server, browser, page, make_user,
                                                                              tmp_path):
    make_user("admin", username="alice")
    make_user("admin", username="bob")
    vs = factories.virtual_server(name="Exchange-443", port=443, scheduler="rr")
    bob_context = browser.new_context()
    try:
        bob = bob_context.new_page()
        bob.set_default_timeout(15000)
        login(page, live_server.url, "alice")
        login(bob, live_server.url, "bob")
        for p in (page, bob):
            p.goto(f"{live_server.url}/virtual/{vs.pk}/")

        fill_form(page, {"port": "444"})
        page.click("text=ACCEPT")
        page.wait_for_load_state()
        assert "Saved" in page.locator("ul.messages").inner_text()

        fill_form(bob, {"scheduler": "wlc"})
        bob.click("text=ACCEPT")
        bob.wait_for_load_state()
        errors = bob.locator(".errors").inner_text()
        assert "someone else saved this while you were editing" in errors
        newer = {tds[0]: (tds[1], tds[2]) for tds in
                 (r.locator("td").all_inner_texts() for r in bob.locator("#newer-values tbody tr").all())}
        # Every field where the saved values and Bob's differ: Alice's port, Bob's scheduler.
        assert newer == {"Application port": ("444", "443"), "Scheduling": ("rr", "wlc")}, newer
        # Bob's own values are still in the form, for him to decide.
        assert bob.locator("[name=scheduler]").input_value() == "wlc"
        assert bob.locator("[name=port]").input_value() == "443"
        bob.screenshot(path=str(tmp_path / "journey-5-stale-form.png"), full_page=True)

        vs.refresh_from_db()
        assert (vs.port, vs.scheduler) == (444, "rr")  # alice's edit stands, bob's changed nothing
        assert not AuditEntry.objects.filter(username="bob", action="update").exists()
        assert AuditEntry.objects.filter(username="alice", action="update", object_type="VirtualServer").count() == 1

        # Submitting again, now knowingly, replaces alice's values with bob's.
        bob.click("text=ACCEPT")
        bob.wait_for_load_state()
        assert "Saved" in bob.locator("ul.messages").inner_text()
        vs.refresh_from_db()
        assert (vs.port, vs.scheduler) == (443, "wlc")
    finally:
        bob_context.close()
