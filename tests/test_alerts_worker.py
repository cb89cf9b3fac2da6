"""End to end through the product's own processes: beat ticks, a real worker's health
checker finds a real server down, the transition's alert event is routed and a worker
delivers the signed webhook to a real HTTP server; the result is recorded as sent."""
import hashlib
import hmac
import sqlite3

from tests.alert_receivers import webhook_receiver
from tests.health_servers import closed_port
from tests.processes import celery_process, isolated_worker_stack, manage, wait_for

SECRET = "worker-test-secret-0123456789"
SETUP = """
from virtualservers.models import HealthCheck, RealServer, VirtualServer
from monitoring.models import AlertDestination
vs = VirtualServer.objects.create(name="web", address="192.0.2.90", port=80, active=True, forwarding="nat")
HealthCheck.objects.create(virtual_server=vs, check_type="tcp", interval=1, timeout=1, rise=1, fall=1)
RealServer.objects.create(virtual_server=vs, name="CAS1", address="127.0.0.1", port={dead}, admin_state="enabled")
AlertDestination.objects.create(name="hook", kind="webhook", url="{url}", secret="{secret}", events=["health"])
"""


def test_a_worker_delivers_a_signed_webhook_when_a_real_server_goes_down(redis_url, tmp_path):
    url, redis, extra, env = isolated_worker_stack(redis_url, tmp_path, 9)
    extra["LBADMIN_ALERT_WINDOW"] = "1"
    with webhook_receiver() as receiver:
        manage(env, "shell", "-c", SETUP.format(dead=closed_port(), url=receiver.url, secret=SECRET))
        with celery_process("worker", url, tmp_path, **extra), \
                celery_process("beat", url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **extra):
            wait_for(lambda: receiver.posts, 60, what="the webhook of CAS1 going down")
    post = receiver.posts[0]
    mac = hmac.new(SECRET.encode(), post.headers["x-lbadmin-timestamp"].encode() + b"." + post.body, hashlib.sha256)
    assert post.headers["x-lbadmin-signature"] == "sha256=" + mac.hexdigest()
    body = post.json()
    assert (body["event"], body["virtual_server"], body["real_server"], body["new_state"]) == \
        ("health", "web", "CAS1", "down")
    assert "connection refused" in body["reason"]
    with sqlite3.connect(tmp_path / "lbadmin.sqlite3") as db:
        rows = db.execute("SELECT status, attempts FROM monitoring_alertdelivery").fetchall()
    assert rows == [("sent", 1)]
    redis.flushdb()
