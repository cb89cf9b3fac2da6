"""Every routed URL, walked: login is required for GET and POST, a POST
without a CSRF token is refused, and neither changes anything.

Piranha's CVE-2013-6492 was a POST that skipped authentication; this test
makes sure no URL of ours can do that, including ones added later.
"""
import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from lbadmin.models import AuditEntry, ClusterSettings, Director, RedundancySettings
from tests import factories
from virtualservers.models import HealthCheck, RealServer, VirtualServer



def all_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


# The deliberate exception to "every page needs a login": a scraper cannot log in, so
# /metrics asks for an API token or an allowed client address instead (the test client's
# 127.0.0.1 is in the default allow-list). tests/test_metrics.py tests that access; here,
# from outside the allow-list, anonymous requests get 401, never a page.
LOGIN_EXEMPT = {"metrics"}
# The JSON API answers for itself, in JSON: 401 without a token (tests/test_api_access.py),
# never a page; its docs page sends a browser to log in like any page. The catch-all for
# other /api/v1/ URLs (and /api/v1/ itself) answers 404 JSON to all.
API = "api/v1/"
API_PAGES = {"openapi-view"}
API_NOT_ROUTED = {"api_not_found", "api-root"}  # ninja's root is shadowed by api_not_found


def is_api(route: str, name: str) -> bool:
    return route.startswith(API) and name not in API_PAGES


def concrete(route: str, ids: dict) -> str:
    path = route.replace("<int:pk>", str(ids["pk"])).replace("<int:rs_pk>", str(ids["rs_pk"]))
    path = path.replace("<str:address>", ids.get("address", "192.0.2.21"))
    return "/" + path


@pytest.fixture
def world(db):
    vs = factories.virtual_server()
    rs = factories.real_server(vs)
    factories.director()
    ClusterSettings.load()
    RedundancySettings.load()
    return {"pk": vs.pk, "rs_pk": rs.pk, "address": rs.address}


def state():
    """Everything a request could change, as comparable values."""
    return (
        list(VirtualServer.objects.values()), list(RealServer.objects.values()),
        list(HealthCheck.objects.values()), list(Director.objects.values()),
        list(ClusterSettings.objects.values()), list(RedundancySettings.objects.values()),
        [(e.action, e.object_repr) for e in AuditEntry.objects.exclude(action__in=["login", "login_failed"])],
    )


def our_routes():
    routes = list(all_routes())
    assert len(routes) > 20, "the walk found too few URLs: the resolver walk is broken"
    return routes


@pytest.mark.django_db
def test_every_url_sends_an_anonymous_get_to_the_login_page(client, world):
    for route, name in our_routes():
        url = concrete(route, world)
        response = client.get(url)
        if name == "login":
            assert response.status_code == 200
            continue
        if name in LOGIN_EXEMPT:
            assert client.get(url, REMOTE_ADDR="192.0.2.200").status_code == 401, url
            continue
        if name in API_NOT_ROUTED:
            continue
        if is_api(route, name):
            assert response.status_code in (401, 405), url  # 405: a GET to a POST-only operation
            assert response.status_code == 405 or "token" in response.json()["detail"], url
            continue
        assert response.status_code == 302, f"{url} answered {response.status_code} to an anonymous GET"
        assert response["Location"].startswith("/accounts/login/"), url


@pytest.mark.django_db
def test_no_url_accepts_an_anonymous_post(client, world):
    before = state()
    for route, name in our_routes():
        url = concrete(route, world)
        response = client.post(url, {"name": "pwned", "active": "on", "address": "192.0.2.99", "port": "1"})
        if name == "login":
            assert response.status_code == 200  # the login form again, with an error
            continue
        if name in API_NOT_ROUTED:
            continue
        if is_api(route, name):
            assert response.status_code in (401, 405), f"{url} answered {response.status_code} to an anonymous POST"
            continue
        assert response.status_code in (302, 405), f"{url} answered {response.status_code} to an anonymous POST"
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), url
    assert state() == before


@pytest.mark.django_db
def test_no_url_accepts_a_post_without_csrf_token_even_from_an_admin(client_for, admin_user, world):
    client = client_for(admin_user, enforce_csrf=True)
    before = state()
    for route, name in our_routes():
        if name in API_NOT_ROUTED:
            continue
        url = concrete(route, world)
        response = client.post(url, {"name": "pwned", "address": "192.0.2.99", "port": "1"})
        assert response.status_code in (403, 405), f"{url} answered {response.status_code} to a CSRF-less POST"
    assert state() == before


@pytest.mark.django_db
def test_no_get_changes_anything(client_for, admin_user, world):
    client = client_for(admin_user)
    before = state()
    for route, name in our_routes():
        if name == "logout":
            continue  # GET on logout is refused (405) by Django; checked below
        client.get(concrete(route, world))
    assert state() == before
    assert client.get("/accounts/logout/").status_code == 405


@pytest.mark.django_db
def test_the_django_admin_is_gone(client, client_for, django_user_model):
    # USERS is the one place for accounts: Django's admin changed users without an audit entry.
    root = django_user_model.objects.create_superuser("root", password="correct-horse-battery")
    for c in (client, client_for(root)):
        for url in ("/django-admin/", "/django-admin/login/", "/django-admin/auth/user/"):
            assert c.get(url).status_code == 404, url


def row_counts() -> dict[str, int]:
    """Rows of every table in the database, Django's own (sessions, auth) included."""
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def bare_world(db):
    """From an empty database: no settings rows (a migration makes them; an older database
    or a flushed one may have none), a virtual server that has no health check yet."""
    ClusterSettings.objects.all().delete()
    RedundancySettings.objects.all().delete()
    vs = VirtualServer(name="bare", address="192.0.2.60", port=80)
    vs.full_clean()
    vs.save()
    rs = factories.real_server(vs, name="bare-rs", address="192.0.2.61")
    factories.director()
    assert not HealthCheck.objects.exists()
    return {"pk": vs.pk, "rs_pk": rs.pk, "address": rs.address}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_no_get_writes_a_row_for_any_role(client_for, make_user, bare_world, role):
    client = client_for(make_user(role))
    before = row_counts()
    for route, name in our_routes():
        if name == "logout":
            continue
        url = concrete(route, bare_world)
        response = client.get(url)
        assert response.status_code < 500, f"{url} answered {response.status_code}"
        assert row_counts() == before, f"GET {url} as {role} wrote rows"
