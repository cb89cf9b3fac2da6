"""The live poll runs on a queue of its own, consumed by the Procfile's poller alone, and
never piles up: a poll that finds the previous one of the same director still reading is
skipped, and the next reading says so on the page. (The single SSH round trip per poll
is proven against the lab's sshd: tests/test_lab_targeted.py.)"""
import pytest
from django.urls import reverse

from lbadmin.celery import app
from lbadmin.procfile import parse_procfile
from lbadmin.redis_client import get_redis
from monitoring import live_poller
from tests import factories
from tests.metrics_kernel import Dest, FakeKernel, Service
from tests.processes import ROOT


@pytest.fixture
def director(db, redis_url, monkeypatch):
    director = factories.director()
    kernel = FakeKernel([Service("192.0.2.50", 80, dests=[Dest("192.0.2.21", 80)])])
    monkeypatch.setattr(live_poller, "executor_for", lambda d: kernel)
    keys = [key.format(director.pk) for key in (live_poller.POLLING_KEY, live_poller.SKIPPED_KEY,
                                                live_poller.SNAPSHOT_KEY, live_poller.HISTORY_KEY)]
    get_redis().delete(*keys)  # another test's director may have had this pk
    yield director
    get_redis().delete(*keys)


def test_the_poll_goes_to_its_own_queue_and_applies_do_not():
    def queue(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert queue("monitoring.tasks.poll_live") == "live"
    assert queue("virtualservers.tasks.reconcile") == app.conf.task_default_queue != "live"


def test_only_the_poller_consumes_the_live_queue():
    processes = parse_procfile((ROOT / "Procfile").read_text())
    assert "--queues live " in processes["poller"] and "--pool solo" in processes["poller"]
    assert "--queues" not in processes["worker"]  # the default queue alone: applies, checks


@pytest.mark.django_db
def test_a_poll_while_the_previous_one_still_reads_is_skipped_and_the_page_says_so(director, client_for, viewer):
    redis = get_redis()
    redis.set(live_poller.POLLING_KEY.format(director.pk), "1")  # a poll of this director is reading
    assert live_poller.poll_if_idle(director) is None
    assert redis.get(live_poller.SNAPSHOT_KEY.format(director.pk)) is None  # nothing read
    redis.delete(live_poller.POLLING_KEY.format(director.pk))

    snapshot = live_poller.poll_if_idle(director)
    assert snapshot["ok"] and snapshot["skipped"] == 1
    assert redis.get(live_poller.POLLING_KEY.format(director.pk)) is None  # freed for the next
    page = client_for(viewer).get(reverse("control_live"), {"interval": "2"}, HTTP_HX_REQUEST="true").content.decode()
    assert "1 poll skipped before it: the previous read was still running" in page
    assert live_poller.poll_if_idle(director)["skipped"] == 0
