"""Every view, as each role, with GET and with POST: allowed or refused (403).

The expected role per (view, method) is written out here, independently of
the views' decorators, so a view that loosens its check fails this test.
"""
import pytest
from django.urls import reverse

from lbadmin.roles import ADMIN, OPERATOR, VIEWER, has_role
from tests import factories
from tests.test_access import all_routes

NOBODY = None  # a logged-in user without any role
GET_ONLY = "405"

# name: (role needed for GET, role needed for POST)
EXPECTED = {
    "control": (VIEWER, GET_ONLY),
    "control_live": (VIEWER, GET_ONLY),
    "control_applies": (VIEWER, GET_ONLY),
    "global_settings": (VIEWER, ADMIN),
    "redundancy": (VIEWER, ADMIN),
    "virtual_list": (VIEWER, GET_ONLY),
    "virtual_add": (ADMIN, ADMIN),
    "virtual_edit": (VIEWER, ADMIN),
    "virtual_delete": (GET_ONLY, ADMIN),
    "virtual_toggle": (GET_ONLY, OPERATOR),
    "real_list": (VIEWER, GET_ONLY),
    "real_add": (ADMIN, ADMIN),
    "real_edit": (VIEWER, ADMIN),
    "real_delete": (GET_ONLY, ADMIN),
    "real_toggle": (GET_ONLY, OPERATOR),
    "real_drain": (GET_ONLY, OPERATOR),
    "real_row": (VIEWER, GET_ONLY),
    "check_edit": (VIEWER, ADMIN),
    "director_list": (VIEWER, GET_ONLY),
    "director_add": (ADMIN, ADMIN),
    "director_edit": (ADMIN, ADMIN),
    "director_delete": (GET_ONLY, ADMIN),
    "director_scan_key": (GET_ONLY, ADMIN),
    "director_pin_key": (GET_ONLY, ADMIN),
    "user_list": (ADMIN, GET_ONLY),
    "user_add": (ADMIN, ADMIN),
    "user_edit": (ADMIN, ADMIN),
    "audit_list": (VIEWER, GET_ONLY),
    "audit_export": (VIEWER, GET_ONLY),
    "audit_detail": (VIEWER, GET_ONLY),
}
from tests import roles_accounts, roles_alerts, roles_health, roles_hosts, roles_io, roles_pages  # noqa: E402

EXPECTED.update(roles_health.EXPECTED)
EXPECTED.update(roles_io.EXPECTED)
EXPECTED.update(roles_pages.EXPECTED)
EXPECTED.update(roles_accounts.EXPECTED)
EXPECTED.update(roles_hosts.EXPECTED)
EXPECTED.update(roles_alerts.EXPECTED)
EXTRA_URLS = {**roles_health.URLS, **roles_io.URLS, **roles_pages.URLS, **roles_accounts.URLS, **roles_hosts.URLS,
              **roles_alerts.URLS}

# Reachable by any logged-in user, whatever the role.
ANY_USER = {"home", "password_change", "logout", "login"} | roles_accounts.ANY_USER | roles_accounts.NOT_BY_SESSION


def test_every_routed_view_has_an_expectation():
    # The JSON API's operations are judged by the caller's role, one by one, in
    # tests/test_api_access.py (its catch-all answers 404 to anyone).
    api = {name for route, name in all_routes() if route.startswith(("api/v1/", "^api/v1/"))}
    names = {name for route, name in all_routes()} - api
    assert api and names - set(EXPECTED) - ANY_USER == set()


@pytest.fixture
def ids(db, make_user):
    from lbadmin.models import AuditEntry

    vs = factories.virtual_server()
    rs = factories.real_server(vs)
    # Another serving server: taking `rs` out never empties the service (which would ask
    # for a confirmation first, virtualservers/blast_radius.py, tested on its own).
    factories.real_server(vs, "CAS2", "192.0.2.22", admin_state="enabled")
    d = factories.director()
    from lbadmin.models import RedundancyGroup

    group = RedundancyGroup.objects.create(name="g1")
    target = make_user(VIEWER, username="someone")
    from lbadmin import audit

    entry = audit.record("create", vs, after={"name": vs.name}, actor="test")
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    return {"virtual": vs.pk, "real": rs.pk, "director": d.pk, "user": target.pk, "audit": entry.pk, "group": group.pk}


def url_for(name: str, ids: dict) -> str:
    if name in EXTRA_URLS:
        return EXTRA_URLS[name](ids)
    if name.startswith("real_") and name not in ("real_list", "real_add"):
        return reverse(name, args=[ids["virtual"], ids["real"]])
    if name.startswith(("virtual_", "real_", "check_")) and name not in ("virtual_list", "virtual_add"):
        return reverse(name, args=[ids["virtual"]])
    if name in ("director_edit", "director_delete", "director_scan_key", "director_pin_key"):
        return reverse(name, args=[ids["director"]])
    if name == "user_edit":
        return reverse(name, args=[ids["user"]])
    if name == "audit_detail":
        return reverse(name, args=[ids["audit"]])
    return reverse(name)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [NOBODY, VIEWER, OPERATOR, ADMIN])
@pytest.mark.parametrize("method", ["get", "post"])
def test_each_view_allows_exactly_the_expected_roles(client_for, make_user, ids, role, method):
    user = make_user(role, username=f"u-{role}")
    client = client_for(user)
    # Deletions last (a real server before its virtual server), so every view finds its object.
    order = sorted(EXPECTED, key=lambda n: (n.endswith("_delete"), n == "virtual_delete"))
    for name in order:
        get_role, post_role = EXPECTED[name]
        needed = get_role if method == "get" else post_role
        response = getattr(client, method)(url_for(name, ids))
        if needed == GET_ONLY:
            assert response.status_code == 405, f"{method.upper()} {name} should be refused with 405"
        elif role is not None and has_role(user, needed):
            assert response.status_code in (200, 302), f"{role} {method.upper()} {name}: {response.status_code}"
        else:
            assert response.status_code == 403, f"{role} {method.upper()} {name}: {response.status_code}, expected 403"


@pytest.mark.django_db
def test_a_viewer_sees_no_change_buttons(client_for, viewer, ids):
    page = client_for(viewer).get(reverse("real_list", args=[ids["virtual"]])).content.decode()
    assert "DEACTIVATE" not in page and "ACTIVATE" not in page and "DELETE" not in page


@pytest.mark.django_db
def test_an_operator_sees_activate_but_not_delete(client_for, operator, ids):
    page = client_for(operator).get(reverse("real_list", args=[ids["virtual"]])).content.decode()
    assert "ACTIVATE" in page and "DELETE" not in page
