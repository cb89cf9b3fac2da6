"""A real Redis of a test's own, that the test stops and starts again on the same port:
an outage as the product sees one (connection refused), then the same server address
back, empty, as after a restart without persistence."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.services import start_redis


class OwnRedis:
    def __init__(self) -> None:
        self.url, self._stop = start_redis()
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self._stopped = False

    def stop(self) -> None:
        self._stop()
        self._stopped = True

    def start(self) -> None:
        assert self._stopped, "start() follows stop()"
        url, self._stop = start_redis(port=self.port)
        assert url == self.url
        self._stopped = False

    def close(self) -> None:
        self._stop()


def point_the_app_at(url: str) -> Callable[[], None]:
    """Web code and Celery producers of this process use `url`; returns the undo."""
    from django.conf import settings

    from lbadmin.celery import app
    from lbadmin.redis_client import get_redis

    before = settings.REDIS_URL, settings.CELERY_BROKER_URL, app.conf.broker_url

    def use(redis_url: str, broker_url: str, app_broker_url: str) -> None:
        settings.REDIS_URL, settings.CELERY_BROKER_URL, app.conf.broker_url = redis_url, broker_url, app_broker_url
        get_redis.cache_clear()
        # Celery keeps the pool it made for the first broker URL it saw: drop it (as Celery
        # does after a fork), so the next send connects to this one.
        app._pool = None
        app.amqp._producer_pool = None

    use(url, url, url)
    return lambda: use(*before)


@pytest.fixture
def own_redis():
    """A Redis only this test uses, the app pointed at it; stopped and started at will."""
    server = OwnRedis()
    undo = point_the_app_at(server.url)
    try:
        yield server
    finally:
        undo()
        server.close()
