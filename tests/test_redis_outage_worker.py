"""Redis stopped and started again under the running product (a real redis-server, a real
Celery worker and beat): a change made through the pages meanwhile is saved, audited and
answered with a 2xx that says it waits for Redis; once Redis is back the outbox drains by
itself and the reconcile runs, and the health checker and the live poller write to Redis
again with nobody restarting anything."""
import time

import pytest
import redis as redis_lib
from django.urls import reverse

from lbadmin import redis_client
from lbadmin.models import AuditEntry
from monitoring.checker import LEASE_KEY
from monitoring.checker_alarm import CHECKER_KEY
from monitoring.live_poller import SNAPSHOT_KEY
from tests import factories
from tests.health_servers import closed_port
from tests.databases import database_url
from tests.processes import celery_process, wait_for
from tests.test_ipvs_support import key_line, new_ed25519_key
from tests.redis_outage import own_redis  # noqa: F401  (fixture)
from virtualservers.models import ApplyRun, ReconcileRequest, VirtualServer
from virtualservers.tasks import APPLY_DEFERRED

TRIGGER = "virtual server (de)activated"


@pytest.mark.django_db(transaction=True)
def test_a_change_made_while_redis_is_down_is_applied_once_it_is_back_and_the_checker_and_poller_resume(
        client_for, operator, own_redis, tmp_path, monkeypatch):
    monkeypatch.setattr(redis_client, "VERDICT_SECONDS", 0)
    # A director nothing answers for: its reconcile ends as a failed run, which is enough
    # to prove the request left the outbox and a worker ran it.
    key = new_ed25519_key(tmp_path / "id_ed25519")
    director = factories.director("nowhere", transport="ssh", address="127.0.0.1", ssh_port=closed_port(),
                                  ssh_key_path=str(tmp_path / "id_ed25519"), host_key=key_line(key))
    vs = factories.virtual_server(active=False)
    client = client_for(operator)
    redis = redis_lib.Redis.from_url(own_redis.url, decode_responses=True, socket_timeout=2)
    env = {"DATABASE_URL": database_url()}
    schedule = str(tmp_path / "beat-schedule")
    with celery_process("worker", own_redis.url, tmp_path, **env) as worker, \
            celery_process("beat", own_redis.url, tmp_path, "--schedule", schedule, **env) as beat:
        wait_for(lambda: redis.get(SNAPSHOT_KEY.format(director.pk)), 60, what="the live poller's first reading")
        wait_for(lambda: redis.get(LEASE_KEY), 30, what="the health checker to start")

        own_redis.stop()
        stopped = time.time()
        response = client.post(reverse("virtual_toggle", args=[vs.pk]), follow=True)
        assert response.status_code == 200
        page = response.content.decode()
        assert APPLY_DEFERRED in page and 'data-banner="redis-down"' in page
        assert VirtualServer.objects.get(pk=vs.pk).active
        assert AuditEntry.objects.filter(action="activate", object_id=str(vs.pk)).exists()
        assert ReconcileRequest.objects.filter(director=director).count() == 1
        time.sleep(4)  # long enough for the worker, beat and the checker to notice
        assert ReconcileRequest.objects.filter(director=director).count() == 1, "sent while Redis was down?"
        assert not ApplyRun.objects.filter(director=director, trigger=TRIGGER).exists()

        own_redis.start()  # empty, as after a restart without persistence
        back = time.time()
        run = wait_for(lambda: ApplyRun.objects.filter(director=director, trigger=TRIGGER, finished_at__isnull=False)
                       .first(), 90, interval=0.5, what="the change's reconcile to run once Redis is back")
        assert not ReconcileRequest.objects.exists()
        assert run.result == ApplyRun.Result.ERROR and "refused" in run.error and run.started_at.timestamp() > back
        wait_for(lambda: redis.get(SNAPSHOT_KEY.format(director.pk)), 30, what="the live poller to write again")
        wait_for(lambda: float(redis.hget(CHECKER_KEY, "renewed") or 0) > back, 30,
                 what="the health checker to run again")
        assert time.time() - stopped < 180
        assert worker.poll() is None and beat.poll() is None  # the same processes: nobody restarted them
        page = client.get(reverse("control")).content.decode()
        assert 'data-banner="redis-down"' not in page and "waiting for Redis" not in page
