"""With Redis unreachable (a real connection refused, not a mock), the pages that show
live data still answer from the database and say what they cannot know: never a 500."""
import threading
import time

import pytest
import redis as redis_lib
from django.urls import reverse

from lab.services import free_port
from lbadmin import redis_client
from lbadmin.redis_client import get_redis
from tests import factories
from tests.redis_outage import own_redis  # noqa: F401  (fixture)


@pytest.fixture
def redis_gone(settings, redis_url):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    get_redis.cache_clear()
    yield
    settings.REDIS_URL = redis_url
    get_redis.cache_clear()


@pytest.mark.django_db
def test_control_and_virtual_servers_render_and_say_redis_is_unreachable(client_for, viewer, redis_gone):
    factories.director()
    factories.virtual_server()
    client = client_for(viewer)
    control = client.get(reverse("control"))
    assert control.status_code == 200
    page = control.content.decode()
    assert "live data unavailable: Redis unreachable" in page and "queued applies cannot be seen" in page
    listing = client.get(reverse("virtual_list"))
    assert listing.status_code == 200 and "Redis unreachable" in listing.content.decode()
    live = client.get(reverse("control_live"), HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and "Redis unreachable" in live.content.decode()


# --- the banner, against a real Redis stopped and started again -------------------------

BANNER = 'data-banner="redis-down"'
PAGES = ("control", "virtual_list", "director_list", "audit_list", "global_settings", "redundancy_groups",
         "config_index")


@pytest.fixture
def every_probe(monkeypatch):
    """No verdict held over between requests: each page asks Redis itself."""
    monkeypatch.setattr(redis_client, "VERDICT_SECONDS", 0)


@pytest.mark.django_db
def test_every_page_has_the_banner_while_redis_is_stopped_and_loses_it_once_back(client_for, viewer, own_redis,
                                                                                every_probe):
    factories.director()
    client = client_for(viewer)
    assert BANNER not in client.get(reverse("control")).content.decode()
    own_redis.stop()
    for name in PAGES:
        response = client.get(reverse(name))
        page = response.content.decode()
        assert response.status_code == 200, name
        assert BANNER in page, name
        assert "Redis unreachable since" in page and "changes are saved and will be applied when it is back" in page
    # The polled partials do not repeat it (they are inside a page that has it), and say in
    # place what they cannot show.
    live = client.get(reverse("control_live"), HTTP_HX_REQUEST="true").content.decode()
    assert BANNER not in live and "live data unavailable: Redis unreachable since" in live
    applies = client.get(reverse("control_applies"), HTTP_HX_REQUEST="true").content.decode()
    assert "queued applies cannot be seen; changes are saved and wait in the outbox" in applies
    own_redis.start()
    for name in PAGES:
        assert BANNER not in client.get(reverse(name)).content.decode(), name


@pytest.mark.django_db
def test_the_banner_keeps_the_time_of_the_first_failure(client_for, viewer, own_redis, every_probe):
    client = client_for(viewer)
    own_redis.stop()
    first = redis_client.redis_outage()
    time.sleep(1.1)
    assert redis_client.redis_outage().since == first.since
    assert f"Redis unreachable since {first.local_time}" in client.get(reverse("control")).content.decode()


def test_a_hung_redis_costs_a_page_at_most_the_probe_timeout(own_redis, every_probe, monkeypatch):
    pauser = redis_lib.Redis.from_url(own_redis.url)
    pauser.execute_command("CLIENT", "PAUSE", "1500", "ALL")  # the server stops answering for 1.5 s
    started = time.perf_counter()
    outage = redis_client.redis_outage()
    took = time.perf_counter() - started
    assert outage is not None and "Timeout" in outage.reason
    assert took < redis_client.PROBE_TIMEOUT + 0.2
    # Within the verdict's lifetime, no one asks (and waits) again.
    monkeypatch.setattr(redis_client, "VERDICT_SECONDS", 10)
    probes = []
    real_probe = redis_client._probe_client
    monkeypatch.setattr(redis_client, "_probe_client", lambda url: probes.append(url) or real_probe(url))
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(redis_client.redis_outage())) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert probes == [] and answers == [outage] * 20


def test_the_banner_is_for_logged_in_people_only(client, own_redis):
    own_redis.stop()
    assert BANNER not in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_control_asks_redis_once_when_it_is_known_down(client_for, viewer, redis_gone, monkeypatch):
    # A hung Redis costs each read its 2-s socket timeout: once the short probe has found it
    # down, the checker alarm and the Redis row must not wait for their own reads.
    from monitoring import checker_alarm, process_pings

    def no_second_wait():
        raise AssertionError("read Redis although it is known to be down")

    factories.director()
    vs = factories.virtual_server(active=True)
    factories.real_server(vs)
    monkeypatch.setattr(checker_alarm, "get_redis", no_second_wait)
    monkeypatch.setattr(process_pings, "get_redis", no_second_wait)
    page = client_for(viewer).get(reverse("control")).content.decode()
    assert "Cannot read the health checker&#x27;s results: Redis unreachable since" in page
