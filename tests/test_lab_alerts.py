"""Tried as a new user would (issue 13, alerts): a webhook destination on ALERTS, the lab's
real server rs1 has its httpd stopped, and a signed webhook says rs1 went down. The
product's own processes do it all: beat, a worker's checker, the alert delivery."""
import hashlib
import hmac

import pytest

from lbadmin.management.commands.lab import register_lab_director
from monitoring.models import AlertDelivery, AlertDestination
from tests.alert_receivers import webhook_receiver
from tests.databases import database_url
from tests.lab_fixtures import clean_lab_vm, lab_vm  # noqa: F401  (fixtures)
from tests.processes import celery_process, wait_for
from tests.test_lab_health import add_checked_virtual_server, forget_earlier_health_state

pytestmark = pytest.mark.lab
SECRET = "lab-alerts-secret-0123456789"


def down_posts(receiver, name: str) -> list[dict]:
    return [body for body in (post.json() for post in receiver.posts)
            for event in body["events"] if event["real_server"] == name and event["new_state"] == "down"]


@pytest.mark.only_database("sqlite")
@pytest.mark.django_db(transaction=True)
def test_stopping_a_lab_real_servers_httpd_sends_a_signed_webhook(clean_lab_vm, redis_url, tmp_path):
    vm = clean_lab_vm
    forget_earlier_health_state()
    register_lab_director(vm)
    vs = add_checked_virtual_server(vm)
    env = {"DATABASE_URL": database_url(), "LBADMIN_ALERT_WINDOW": "1"}
    with webhook_receiver() as receiver:
        AlertDestination.objects.create(name="lab-hook", kind="webhook", url=receiver.url, secret=SECRET,
                                        events=["health"])
        with celery_process("worker", redis_url, tmp_path, prefork=True, **env), \
                celery_process("beat", redis_url, tmp_path, "--schedule", str(tmp_path / "beat-schedule"), **env):
            wait_for(lambda: set(vs.real_servers.values_list("health", flat=True)) == {"up"}, 60, interval=0.5,
                     what="both real servers to be seen up")
            vm.rs_stop("rs1")
            try:
                wait_for(lambda: down_posts(receiver, "rs1"), 60, interval=0.5, what="the webhook saying rs1 is down")
            finally:
                vm.rs_start("rs1")
    [body] = down_posts(receiver, "rs1")
    [event] = [e for e in body["events"] if e["real_server"] == "rs1" and e["new_state"] == "down"]
    assert (event["event"], event["virtual_server"], event["old_state"]) == ("health", "web", "up")
    assert "failures in a row" in event["reason"]
    post = next(p for p in receiver.posts if p.json() == body)
    mac = hmac.new(SECRET.encode(), post.headers["x-lbadmin-timestamp"].encode() + b"." + post.body, hashlib.sha256)
    assert post.headers["x-lbadmin-signature"] == "sha256=" + mac.hexdigest()
    # The worker stopped gracefully, so the attempt that posted it is recorded.
    assert AlertDelivery.objects.get(pk=body["message_id"]).status == "sent"
