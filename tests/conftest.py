"""Shared fixtures: a real Redis for the whole session, users of each role,
and the rule that in CI a skipped test is a failure."""

import pytest

# Every database test on SQLite and on PostgreSQL: hooks and fixtures live there.
from tests.databases import (  # noqa: F401
    database,
    postgresql_test_database,
    pytest_configure,
    pytest_generate_tests,
)

from tests.needs import IN_CI


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that uses the lab director is a lab test, marked or not, so that `-m lab` and
    `-m "not lab"` (scripts/test's two phases) split the suite exactly."""
    for item in items:
        if "lab_vm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


@pytest.fixture(scope="session", autouse=True)
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port, used by the app and Celery."""
    from django.conf import settings

    from lbadmin.redis_client import get_redis
    from tests.services import start_redis

    url, stop = start_redis()
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    from lbadmin.celery import app

    app.conf.broker_url = url
    get_redis.cache_clear()
    yield url
    stop()


@pytest.fixture
def empty_redis(redis_url):
    """The session's Redis emptied before and after the test (live snapshots, pending marks)."""
    from lbadmin.redis_client import get_redis

    get_redis().flushdb()
    yield
    get_redis().flushdb()


@pytest.fixture
def make_user(db):
    from django.contrib.auth.models import User

    from lbadmin.roles import set_role

    def make(role: str | None, username: str | None = None, password: str = "correct-horse-battery"):
        user = User.objects.create_user(username=username or f"{role or 'nobody'}-user", password=password)
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("viewer")


@pytest.fixture
def operator(make_user):
    return make_user("operator")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin")


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client logged in as that user (or anonymous for None)."""
    from django.test import Client

    def make(user, enforce_csrf: bool = False):
        c = Client(enforce_csrf_checks=enforce_csrf)
        if user is not None:
            c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _audit_unlocked_only_for_flush(request):
    """Transactional tests end with a flush (DELETE of every table), which the
    audit triggers refuse. Lock during the test, unlock just for the flush."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction"))
    )
    if not transactional:
        yield
        return
    # Requesting the database helper here makes our teardown run before its flush.
    request.getfixturevalue("_django_db_helper")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM lbadmin_audit_unlock")
    yield
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO lbadmin_audit_unlock (reason) VALUES ('test database flush')")
