"""Reconciles are coalesced per director through Redis: at most one pending,
and a change made while one runs queues exactly one more."""
import pytest
from django.urls import reverse

from lbadmin.redis_client import get_redis
from tests import factories
from virtualservers.reconcile import PENDING_KEY
from virtualservers.tasks import queue_reconcile


def queued_messages() -> int:
    return get_redis().llen("celery")


@pytest.fixture(autouse=True)
def empty_queue(redis_url):
    get_redis().flushdb()
    yield
    get_redis().flushdb()


@pytest.mark.django_db
def test_a_burst_of_changes_queues_one_reconcile_per_director():
    one, two = factories.director("one"), factories.director("two")
    assert queue_reconcile(one.pk, "change") is True
    for _ in range(5):
        assert queue_reconcile(one.pk, "change") is False
    assert queue_reconcile(two.pk, "change") is True
    assert queued_messages() == 2


@pytest.mark.django_db
def test_a_started_run_lets_the_next_change_queue_again():
    from virtualservers.reconcile import get_redis as redis_of_reconcile

    director = factories.director("one")
    queue_reconcile(director.pk, "change")
    # What reconcile_director does first: forget the pending mark.
    redis_of_reconcile().delete(PENDING_KEY.format(director.pk))
    assert queue_reconcile(director.pk, "change") is True
    assert queued_messages() == 2


@pytest.mark.django_db(transaction=True)
def test_changes_in_the_pages_queue_on_commit_with_the_request_id(client_for, make_user):
    import json

    director = factories.director("one")
    vs = factories.virtual_server()
    client = client_for(make_user("operator"))
    client.post(reverse("virtual_toggle", args=[vs.pk]), HTTP_X_REQUEST_ID="req-42")
    client.post(reverse("virtual_toggle", args=[vs.pk]))
    assert queued_messages() == 1  # the second change joined the pending run
    message = json.loads(get_redis().lindex("celery", 0))
    assert message["headers"]["task"] == "virtualservers.tasks.reconcile"
    assert message["headers"]["argsrepr"] == f"({director.pk}, 'virtual server (de)activated', 'req-42')"
