"""A change asks for its reconcile through an outbox row written in its own transaction:
with Redis stopped (a real redis-server, stopped), the change is saved and audited, the
person is told it waits for Redis, and the request is sent once Redis is back. Many
requests for one director become one reconcile; two drainers never send a row twice."""
import base64
import datetime
import json
import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse

from lbadmin import redis_client
from lbadmin.models import AuditEntry
from lbadmin.redis_client import get_redis
from tests import factories
from tests.redis_outage import own_redis  # noqa: F401  (fixture)
from virtualservers import outbox
from virtualservers.models import ReconcileRequest, VirtualServer
from virtualservers.tasks import APPLY_DEFERRED, configuration_changed, drain_outbox, request_reconciles


def queued() -> list[tuple]:
    """The reconciles waiting in the Celery queue, sorted: (director id, trigger, request id)."""
    found = []
    for raw in get_redis().lrange("celery", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "virtualservers.tasks.reconcile":
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(tuple(args))
    return sorted(found)


@pytest.fixture
def every_probe(monkeypatch):
    monkeypatch.setattr(redis_client, "VERDICT_SECONDS", 0)


@pytest.mark.django_db(transaction=True)
def test_a_toggle_with_redis_stopped_is_saved_audited_and_applied_once_redis_is_back(client_for, operator, own_redis,
                                                                                    every_probe):
    one, two = factories.director("one"), factories.director("two")
    vs = factories.virtual_server(active=False)
    client = client_for(operator)
    own_redis.stop()

    response = client.post(reverse("virtual_toggle", args=[vs.pk]), follow=True, HTTP_X_REQUEST_ID="req-77")
    assert response.status_code == 200
    page = response.content.decode()
    assert APPLY_DEFERRED in page and 'data-banner="redis-down"' in page
    assert VirtualServer.objects.get(pk=vs.pk).active
    assert AuditEntry.objects.filter(action="activate", object_id=str(vs.pk)).exists()
    assert sorted(ReconcileRequest.objects.values_list("director_id", "request_id")) == sorted(
        [(one.pk, "req-77"), (two.pk, "req-77")])
    # The same by HTMX: the row swaps in, and the Applies panel says what waits.
    response = client.post(reverse("virtual_toggle", args=[vs.pk]), HTTP_HX_REQUEST="true", HTTP_X_REQUEST_ID="req-78")
    assert response.status_code == 200 and response["HX-Trigger"] == "applyQueued"
    panel = client.get(reverse("control_applies"), HTTP_HX_REQUEST="true").content.decode()
    assert panel.count("waiting for Redis: 2 changes saved, not yet applied") == 2

    own_redis.start()
    assert drain_outbox() == 4
    assert not ReconcileRequest.objects.exists()
    # One reconcile per director for both changes, carrying the newest change's request id.
    assert queued() == sorted([(one.pk, "virtual server (de)activated", "req-78"),
                               (two.pk, "virtual server (de)activated", "req-78")])
    assert "waiting for Redis" not in client.get(reverse("control_applies"), HTTP_HX_REQUEST="true").content.decode()


@pytest.mark.django_db(transaction=True)
def test_with_redis_up_the_request_is_sent_on_commit_and_leaves_no_row(client_for, operator, own_redis):
    director = factories.director("one")
    vs = factories.virtual_server()
    response = client_for(operator).post(reverse("virtual_toggle", args=[vs.pk]), follow=True)
    assert APPLY_DEFERRED not in response.content.decode()
    assert not ReconcileRequest.objects.exists()
    assert [q[0] for q in queued()] == [director.pk]


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_cannot_reach_redis_keeps_every_row_for_the_next(own_redis, every_probe):
    director = factories.director("one")
    own_redis.stop()
    with transaction.atomic():
        request_reconciles([director.pk], "test")
    with pytest.raises(Exception):
        drain_outbox()
    row = ReconcileRequest.objects.get()
    assert row.claimed_by == "" and row.claimed_at is None
    own_redis.start()
    assert drain_outbox() == 1 and not ReconcileRequest.objects.exists()


@pytest.mark.django_db
def test_a_change_rolled_back_asks_for_nothing():
    factories.director("one")
    with pytest.raises(RuntimeError), transaction.atomic():
        configuration_changed("virtual server edited")
        raise RuntimeError("the change failed")
    assert not ReconcileRequest.objects.exists()


@pytest.mark.django_db
def test_many_requests_for_one_director_become_one_reconcile(own_redis):
    one, two = factories.director("one"), factories.director("two")
    outbox.record([one.pk], "real server drain", "r1")
    outbox.record([one.pk], "real server deactivate", "r2")
    outbox.record([one.pk, two.pk], "virtual server edited", "r3")
    assert drain_outbox() == 4
    assert sorted(queued()) == sorted([(one.pk, "virtual server edited +2", "r3"),
                                       (two.pk, "virtual server edited", "r3")])


@pytest.mark.django_db
def test_a_claim_left_by_a_dead_drainer_is_taken_again_after_the_claim_timeout():
    director = factories.director("one")
    outbox.record([director.pk], "test")
    first = outbox.claim()
    assert len(first.rows) == 1 and outbox.claim().rows == []
    ReconcileRequest.objects.update(
        claimed_at=first.rows[0].claimed_at - datetime.timedelta(seconds=outbox.CLAIM_SECONDS + 1))
    again = outbox.claim()
    assert [r.pk for r in again.rows] == [first.rows[0].pk] and again.owner != first.owner


@pytest.mark.django_db(transaction=True)
def test_drainers_racing_in_threads_claim_each_row_exactly_once(monkeypatch):
    directors = [factories.director(f"d{i}").pk for i in range(4)]
    for _ in range(25):
        outbox.record(directors, "race")
    monkeypatch.setattr(outbox, "BATCH", 7)
    claimed: list[list[int]] = [[] for _ in range(4)]
    errors = []

    def drainer(mine: list[int]) -> None:
        try:
            while True:
                batch = outbox.claim()
                if not batch.rows and not ReconcileRequest.objects.filter(claimed_by="").exists():
                    return
                mine.extend(r.pk for r in batch.rows)
        except Exception as exc:  # reported below, with the thread's own traceback lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drainer, args=(mine,)) for mine in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [pk for mine in claimed for pk in mine]
    assert len(every) == 100 and len(set(every)) == 100
