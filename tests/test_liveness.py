"""CONTROL/MONITORING's process table is measured, not assumed: it shows a
worker and beat only when real ones run, and Redis's real round trip."""
import pytest
from django.urls import reverse

from monitoring import process_pings
from tests.processes import celery_process, wait_for


def states() -> dict:
    return {p.name: p.up for p in process_pings.check_all()}


@pytest.mark.django_db
def test_without_worker_and_beat_it_says_so(redis_url):
    from lbadmin.redis_client import get_redis

    get_redis().delete(process_pings.HEARTBEAT_KEY)
    found = states()
    assert found["web"] is True and found["redis"] is True
    assert found["worker"] is False and found["poller"] is False
    assert found["beat"] is None  # cannot be judged while no worker runs


@pytest.mark.django_db
def test_a_real_worker_and_beat_show_as_running(redis_url, tmp_path, client_for, viewer):
    from lbadmin.redis_client import get_redis

    get_redis().delete(process_pings.HEARTBEAT_KEY)
    with celery_process("worker", redis_url, tmp_path), celery_process("beat", redis_url, tmp_path,
                                                                       "--schedule", str(tmp_path / "beat-schedule")):
        wait_for(lambda: process_pings.check_worker().up, 60, what="the worker to answer a ping")
        wait_for(lambda: process_pings.check_beat(True).up, 60, what="beat's heartbeat to be stamped")
        page = client_for(viewer).get(reverse("control"), {"part": "processes"}, HTTP_HX_REQUEST="true").content.decode()
        assert page.count("running") == 4, page  # web, worker, beat, redis; no poller runs
        assert states()["poller"] is False
    # Stopped: the worker no longer answers.
    assert process_pings.check_worker(timeout=0.5).up is False


@pytest.mark.django_db
def test_redis_down_is_shown_with_its_reason(settings):
    from lbadmin.redis_client import get_redis
    from tests.services import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    get_redis.cache_clear()
    try:
        found = process_pings.check_redis()
        assert found.up is False and "no answer" in found.detail
    finally:
        get_redis.cache_clear()


@pytest.mark.django_db
def test_the_live_poller_is_told_apart_from_the_worker(redis_url, tmp_path):
    """The Procfile's poller (node poller@<host>) answers for itself: a running poller does
    not make a dead worker look alive, nor the other way round."""
    with celery_process("worker", redis_url, tmp_path, hostname="poller@%h"):
        wait_for(lambda: process_pings.check_workers()[1].up, 60, what="the poller to answer a ping")
        worker, poller = process_pings.check_workers()
        assert worker.up is False and "no worker answered" in worker.detail
        assert poller.up is True and poller.detail.startswith("poller@")
