"""Every test that touches the database runs twice in the same run: on SQLite (the
README's default) and on PostgreSQL (docker-compose.yml's), with the database in the test
id: `test_x[sqlite]`, `test_x[postgresql]`.

How: tests/settings.py declares two aliases, `default` (SQLite) and `postgresql`. For a
`[postgresql]` test the two are swapped before any other fixture runs, so everything that
says "default" (the ORM, django.db.connection, transaction.atomic, the live server's
threads, the audit triggers) talks to PostgreSQL; the swap is undone after the test. The
PostgreSQL test database is created once, with the swap in place, by running the
migrations as pytest-django does for SQLite.

A test that is about one database only says so: `@pytest.mark.only_database("sqlite")`.
Subprocesses (a real Celery worker, manage.py) get the test's database from database_url().
"""
from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import quote

import pytest

from tests import postgresql
from tests.needs import need

DATABASES = ("sqlite", "postgresql")


def uses_database(definition, fixturenames) -> bool:
    # The rule pytest-django itself applies (fixtures._get_databases_for_test).
    return (definition.get_closest_marker("django_db") is not None
            or any(name in fixturenames for name in ("db", "transactional_db", "live_server")))


def pytest_configure(config):
    config.addinivalue_line("markers", "only_database(name): run this database test on that database only")


def pytest_generate_tests(metafunc):
    if "database" not in metafunc.fixturenames:
        return
    # First in the setup order: the swap must precede pytest-django's transaction.
    metafunc.fixturenames.remove("database")
    metafunc.fixturenames.insert(0, "database")
    if not uses_database(metafunc.definition, metafunc.fixturenames):
        return
    only = metafunc.definition.get_closest_marker("only_database")
    names = [name for name in DATABASES if only is None or name in only.args]
    metafunc.parametrize("database", names, ids=names, indirect=True)


@contextmanager
def _swapped():
    """`default` and `postgresql` trade settings for the duration; connections already
    open in this thread are closed so that they reopen on the right server."""
    from django.db import connections

    def forget():
        for alias in ("default", "postgresql"):
            if hasattr(connections._connections, alias):
                connections[alias].close()
                delattr(connections._connections, alias)

    settings = connections.settings
    forget()
    settings["default"], settings["postgresql"] = settings["postgresql"], settings["default"]
    try:
        yield
    finally:
        forget()
        settings["default"], settings["postgresql"] = settings["postgresql"], settings["default"]


@pytest.fixture(scope="session")
def postgresql_test_database(django_db_setup, django_db_blocker):
    """The throwaway cluster and its migrated test database, made on first use."""
    from django.db import connections

    why = postgresql.missing()
    # Outside CI a developer without PostgreSQL still runs the SQLite half; in CI it fails.
    need(why is None, why or "")
    cluster = postgresql.start_cluster()
    connections.settings["postgresql"]["PORT"] = str(cluster.port)
    try:
        with django_db_blocker.unblock(), _swapped():
            connections["default"].creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        yield cluster
    finally:
        with django_db_blocker.unblock():
            connections.close_all()
        cluster.stop()


@pytest.fixture(autouse=True)
def database(request):
    """"sqlite" or "postgresql" for database tests (None for the others)."""
    name = getattr(request, "param", None)
    if name != "postgresql":
        yield name
        return
    request.getfixturevalue("postgresql_test_database")
    with _swapped():
        yield name


def database_url() -> str:
    """The current test database as a DATABASE_URL for a subprocess (worker, manage.py)."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = quote(settings.get("USER") or "", safe="")
    return f"postgres://{user}@{settings['HOST']}:{settings['PORT']}/{quote(settings['NAME'], safe='')}"
